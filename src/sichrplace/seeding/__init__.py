"""Data for development and benchmarks: demo accounts and listings, and the bulk seeder
(`sichrplace seed ...`, and `sichrplace bench search`, which seeds the data set it needs)."""
