"""Local fake servers that speak third-party providers' real wire formats."""
