"""Services own the business rules: every write goes through one of these functions."""
