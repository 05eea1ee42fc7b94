"""The printable return label and packing slip (PDF, A4 or A6): the case number as Code 128 and QR, addresses,
items, in Chinese and English. The CJK font is embedded (subset), so the label prints the same everywhere."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from ..pdf import cjk_font


@dataclass(frozen=True)
class LabelItem:
    sku: str
    title: str
    quantity: int


@dataclass(frozen=True)
class Label:
    case_number: str
    order_number: str
    merchant: str
    from_name: str
    from_phone: str
    to_name: str
    to_contact: str
    to_phone: str
    to_address: str
    to_address_en: str
    to_postcode: str
    items: list[LabelItem]
    deadline: datetime | None
    carrier: str = ""
    tracking_number: str = ""
    pickup: str = ""  # a booked pickup, as printed: window, booking reference


def render(label: Label) -> bytes:
    """The label (top half, to cut and stick on the parcel) and the packing slip (bottom half, to put inside)."""
    # ReportLab (~0.1 s to import, with Pillow) loads when a PDF is made, not in every process that imports this.
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode import code128
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    font = cjk_font()
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, pageCompression=1, invariant=1, initialFontName=font, initialFontSize=10)
    pdf.setTitle(f"退货标签 Return label {label.case_number}")
    pdf.setAuthor("returnflow")
    width, height = A4
    left, top = 15 * mm, height - 15 * mm

    # ---- the label --------------------------------------------------------------------------------------------
    pdf.setLineWidth(1.2)
    pdf.rect(left - 3 * mm, height / 2 + 4 * mm, width - 2 * left + 6 * mm, height / 2 - 16 * mm)
    pdf.setFont(font, 16)
    pdf.drawString(left, top - 6 * mm, "退货标签 / RETURN LABEL")
    pdf.setFont(font, 10)
    pdf.drawString(left, top - 12 * mm, f"售后单号 Case no.: {label.case_number}    订单 Order: {label.order_number}")

    barcode = code128.Code128(label.case_number, barWidth=0.42 * mm, barHeight=18 * mm, humanReadable=False,
                              quiet=True)
    barcode.drawOn(pdf, left, top - 36 * mm)
    pdf.setFont(font, 14)
    pdf.drawString(left, top - 42 * mm, label.case_number)

    qr = QrCodeWidget(label.case_number, barLevel="M")
    x1, y1, x2, y2 = qr.getBounds()
    size = 38 * mm
    drawing = Drawing(size, size, transform=[size / (x2 - x1), 0, 0, size / (y2 - y1), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, pdf, width - left - size, top - 46 * mm)

    y = top - 54 * mm
    pdf.setFont(font, 9)
    pdf.drawString(left, y, "收件 TO（退货仓 return warehouse）")
    pdf.setFont(font, 13)
    pdf.drawString(left, y - 6 * mm, f"{label.to_name}  {label.to_contact}  {label.to_phone}")
    pdf.setFont(font, 11)
    pdf.drawString(left, y - 12 * mm, f"{label.to_address} {label.to_postcode}".strip())
    if label.to_address_en:
        pdf.drawString(left, y - 17 * mm, label.to_address_en)
    pdf.setFont(font, 9)
    pdf.drawString(left, y - 25 * mm, "寄件 FROM")
    pdf.setFont(font, 11)
    pdf.drawString(left, y - 31 * mm, f"{label.from_name}  {label.from_phone}".strip())
    pdf.setFont(font, 9)
    carrier = f"{label.carrier} {label.tracking_number}".strip() or "—"
    deadline = label.deadline.strftime("%Y-%m-%d %H:%M") if label.deadline else "—"
    pdf.drawString(left, y - 39 * mm, f"快递 Carrier: {carrier}    寄回截止 Send by: {deadline}")
    pdf.drawString(left, y - 45 * mm, "请将本标签贴在包裹外侧，或在包裹上写明售后单号。")
    pdf.drawString(left, y - 50 * mm, "Stick this label on the outside of the parcel, or write the case number on it.")
    if label.pickup:
        pdf.setFont(font, 10)
        pdf.drawString(left, y - 57 * mm, label.pickup)

    # ---- the packing slip -------------------------------------------------------------------------------------
    pdf.setDash(3, 3)
    pdf.line(left - 3 * mm, height / 2, width - left + 3 * mm, height / 2)
    pdf.setDash()
    pdf.setFont(font, 8)
    pdf.drawRightString(width - left, height / 2 - 4 * mm, "沿虚线剪开 cut along the dashed line")
    y = height / 2 - 12 * mm
    pdf.setFont(font, 14)
    pdf.drawString(left, y, "装箱单 / PACKING SLIP — 请放入包裹内 put this inside the parcel")
    pdf.setFont(font, 10)
    pdf.drawString(left, y - 7 * mm, f"售后单号 Case: {label.case_number}   订单 Order: {label.order_number}   "
                                     f"商家 Merchant: {label.merchant}")
    y -= 16 * mm
    pdf.setFont(font, 9)
    pdf.drawString(left, y, "SKU")
    pdf.drawString(left + 45 * mm, y, "商品 Item")
    pdf.drawRightString(width - left, y, "数量 Qty")
    pdf.line(left, y - 2 * mm, width - left, y - 2 * mm)
    pdf.setFont(font, 10)
    for item in label.items:
        y -= 7 * mm
        if y < 40 * mm:
            pdf.drawString(left, y, "…")
            break
        pdf.drawString(left, y, item.sku[:28])
        pdf.drawString(left + 45 * mm, y, item.title[:48])
        pdf.drawRightString(width - left, y, str(item.quantity))
    pdf.setFont(font, 9)
    pdf.drawString(left, 30 * mm, "请连同配件、说明书、吊牌、赠品一并寄回；尽量使用原包装。")
    pdf.drawString(left, 25 * mm,
                   "Return all accessories, manuals, tags and gifts; use the original packaging if you can.")
    pdf.showPage()
    pdf.save()
    return buf.getvalue()
