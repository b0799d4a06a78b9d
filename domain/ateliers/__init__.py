"""The ateliers context: workshops that make designs, and the matches between them."""
