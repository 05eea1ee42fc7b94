"""The warehouse side of a return: receiving desk and exceptions, inspection, disposition, repair work orders."""
