"""Datasets: the catalogue of cards, fetching (mirror or official servers), loading, splits."""
