"""Paper A experiments (OTA-FEEL collaborative ISAC): Figs. 2-11 and beyond-the-paper studies,
with the shared design (:mod:`.design`, :mod:`.fronts`) and FEEL (:mod:`.feel`, :mod:`.accuracy`) helpers."""
