"""The call log: raw pages, calls and legs."""
