"""Paper B experiments (cell-free cooperative ISAC): bounds, fronthaul, the D-VQVAE and its baselines,
with the shared learning set-up (:mod:`.learning`)."""
