"""Carbon accounting domain: emission types, catalog, formulas, and the services on top."""
