"""HTTP routes, one module per topic; each route parses, authorizes, calls one function and
answers."""
