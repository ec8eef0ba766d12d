"""Pages, one module per part of the flow; ``certification/urls.py`` routes them."""
