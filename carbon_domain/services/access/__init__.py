"""Who may do what: API tokens and their roles, and the console's sign-in sessions (each
bound to a token, ended by sign-out, expiry or revocation). Imports no other services package.
"""
