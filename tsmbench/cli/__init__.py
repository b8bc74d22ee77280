"""The `tsmbench` command line: parsing and printing only; the work lives in the stage packages."""
