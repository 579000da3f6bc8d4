"""API tokens and roles. Imports no other services package.
"""
