"""Assigning auditors: the facts the rules read (``facts``), suggestions for one application,
batch proposals for many, and offers and engagements (``offers``)."""
