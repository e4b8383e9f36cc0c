"""The tests' PDF reader itself: it must read every document fpdf2 writes."""

from __future__ import annotations

import re

from fpdf import FPDF

from sichrplace.contracts.document import FONT_DIR
from tests.unit.contracts.pdftext import text_of

# This line compresses to a page stream whose last byte is "\r" (found by search): a reader
# that finds the data by its "\r\nendstream" delimiter loses that byte and the whole page.
LINE = "Vermieter: X (E-Mail: ctr-00000000012c@example.com)"


def test_a_stream_ending_in_a_carriage_return_is_read_whole() -> None:
    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", size=12)
    pdf.multi_cell(0, 8, LINE)
    data = bytes(pdf.output())
    streams = [
        body[m.end() : m.end() + int(m.group(1))]
        for body in re.findall(rb"obj(.*?)endobj", data, re.S)
        if (m := re.search(rb"/Length (\d+)\n>>\nstream\n", body)) and b"FlateDecode" in body
    ]
    assert any(s.endswith(b"\r") for s in streams)  # the case this test is about
    assert LINE in text_of(data)
