-- What an operator needs on the alarm row at 3 a.m.: where the resident lives. Access notes (key
-- safe, door entry) stay in resident_protocols with the rest of the response plan.
ALTER TABLE residents ADD COLUMN IF NOT EXISTS address text;
