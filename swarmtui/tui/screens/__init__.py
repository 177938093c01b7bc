"""Modal screens: confirmations, help, the prompt answer box, a restart record."""
