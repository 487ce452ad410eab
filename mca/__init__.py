"""The MCA acceptance app: rules, status, confirmations, the append-only log and its delivery."""
