"""Database access shared by every process: connection pools and migrations."""
