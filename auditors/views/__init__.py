"""Pages of the auditor network, one module per audience; ``auditors/urls.py`` routes them."""
