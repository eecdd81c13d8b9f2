"""Templates of the generated script, shipped inside the package as data."""
