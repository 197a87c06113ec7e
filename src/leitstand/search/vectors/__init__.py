"""Approximate nearest-neighbour indexes over the vectors stored in the database."""
