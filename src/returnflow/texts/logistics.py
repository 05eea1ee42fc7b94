"""What a shopper is told when sending goods back, in English; the catalogs (src/returnflow/locale/*) translate it."""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a string for the catalogs; it is translated where it is shown."""
    return text


PACKING_ADVICE: list[str] = [
    N_('Pack the item with all accessories, manuals, tags and gifts that came with it.'),
    N_('Use the original packaging if you still have it; cushion fragile items.'),
    N_('Write the case number clearly on the outside of the parcel, or stick the printed label on it.'),
    N_("Keep the carrier's receipt and the tracking number until the case is closed."),
]
