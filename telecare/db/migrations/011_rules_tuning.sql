-- Rule settings learnt from the simulated-scheme evaluation (bench/rules_accuracy.py):
-- out of bed with activity elsewhere is extended only up to a cap, and a battery percentage below
-- the low mark is a low battery even on devices that have no battery_low flag.
ALTER TABLE rule_config
    ADD COLUMN out_of_bed_max_min integer CHECK (out_of_bed_max_min > 0),
    ADD COLUMN battery_low_percent integer CHECK (battery_low_percent BETWEEN 1 AND 99);
