"""Listings: the German rental model, owner rules, detail reads, popular listings."""
