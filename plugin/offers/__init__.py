"""Offers: the admin's offer documents (model), who sees them (targeting), when and how often
(schedule), in which variant (experiments), why not (eligibility), the in-memory snapshot the
offers hot path reads, first exposures written in batches, and what a downgrade would lose.
Nothing runs on import."""
