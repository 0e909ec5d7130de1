"""Output kinds: each turns resolved targets into files of the rendered tree."""
