"""`make bench`: the product's photo list against the same list with no authorization and with stock DOT."""
