"""Framework versions as data, the pure tier classifier (``tiers``), reading a version's rules
(``rules``), and the public tier check and version pages. The lowest layer of certification."""
