"""English: what a listener should hear for numbers, money, dates, times, units, abbreviations
and Roman numerals (American by default; British where it differs: day before month in
``3/4/2024``, "and" in "one hundred and five").

Each rule is a pattern and what its match is said as; ``rules`` lists them in the order they are
tried (the most specific first: a date before the numbers in it). Number words come from
``num2words``; this module is only the glue that finds them in text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from tts_service.text.normalize import dates, numerals
from tts_service.text.normalize.align import Edit, Rule
from tts_service.text.normalize.web import web_rules

NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
"""A number as written in English: 1,234.5, 3.14, .5, 42."""
_FREE = r"(?<![\w.,])"  # not glued to a word or another number on the left
_END = r"(?![\w])"
_DOT = r"(?:\.(?=\s+[a-z]))?"  # an abbreviation's dot, when no sentence ends there
_SCALES = r"(?:thousand|million|billion|trillion)"

_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "mph": ("mile per hour", "miles per hour"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "L": ("liter", "liters"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "ms": ("millisecond", "milliseconds"),
    "kW": ("kilowatt", "kilowatts"),
    "W": ("watt", "watts"),
    "V": ("volt", "volts"),
}
_UNIT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_TITLES = {
    "Dr": "Doctor", "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor",
    "St": "Saint", "Mt": "Mount", "Capt": "Captain", "Gen": "General", "Sgt": "Sergeant",
    "Rev": "Reverend", "Sen": "Senator", "Gov": "Governor", "Lt": "Lieutenant",
}  # fmt: skip
_STREETS = {"St": "Street", "Dr": "Drive", "Ave": "Avenue", "Rd": "Road", "Blvd": "Boulevard"}
_LATIN = {
    "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "vs.": "versus",
    "vs": "versus", "approx.": "approximately", "&": "and",
}  # fmt: skip
_ROMAN = re.compile(r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
_ROMAN_AFTER = (
    r"Chapter|Part|Volume|Book|Act|Scene|Article|Section|Phase|Level|Stage|Type|Class|"
    r"Title|Appendix|War|Episode|Season|Round|Bowl|Psalm|Canto"
)


def say_number(text: str, *, american: bool) -> str:
    """A number as written in English (1,234.5) as words."""
    text = text.replace(",", "")
    negative = text.startswith(("-", "−"))
    text = text.lstrip("-−")
    whole, _, fraction = text.partition(".")
    words = numerals.decimal(whole or "0", fraction, "en", american=american)
    return f"minus {words}" if negative and text.strip("0.") else words


def _number_or_year(text: str, *, american: bool) -> str:
    if re.fullmatch(r"1[1-9]\d\d|20\d\d", text):
        return numerals.year(text, "en", american=american)
    return say_number(text, american=american)


def ordinal(number: str, *, american: bool = False) -> str:
    return numerals.ordinal(number, "en", american=american)


def _money(match: re.Match[str], *, american: bool) -> str:
    one, many, cent, cents = _CURRENCIES[match["symbol"]]
    amount = match["amount"].replace(",", "")
    sign = "minus " if match["minus"] else ""
    if match["scale"]:  # $1.2 million: one point two million dollars
        return f"{sign}{say_number(amount, american=american)} {match['scale']} {many}"
    whole, _, fraction = amount.partition(".")
    if len(fraction) > 2 or (fraction and not cent):
        return f"{sign}{say_number(amount, american=american)} {many}"
    units = int(whole or "0")
    said = [
        f"{numerals.cardinal(whole or '0', 'en', american=american)} {one if units == 1 else many}"
    ]
    hundredths = int(fraction.ljust(2, "0")) if fraction else 0
    if hundredths:
        part = f"{numerals.cardinal(str(hundredths), 'en')} {cent if hundredths == 1 else cents}"
        said = [said[0], "and", part] if units else [part]
    return sign + " ".join(said)


def _unit(match: re.Match[str], *, american: bool) -> list[Edit]:
    amount = match["amount"]
    one, many = _UNITS[match["unit"]]
    plain = amount.lstrip("-−").replace(",", "")
    name = one if plain in ("1", "1.0") else many
    return [
        (match.start("amount"), match.end("amount"), _amount(amount, american=american)),
        (match.start("unit"), match.end("unit"), name),
    ]


def _amount(text: str, *, american: bool) -> str:
    """A number, or a range of two (10-20)."""
    low, _, high = re.sub(r"(?<=\d)\s?[-–]\s?(?=\d)", "~", text, count=1).partition("~")
    said = say_number(low, american=american)
    return f"{said} to {say_number(high, american=american)}" if high else said


def _decade(match: re.Match[str]) -> str:
    """The 90s, the 1980s: the year's last word as a plural (ninety → nineties)."""
    number = match["n"]
    said = numerals.year(number, "en") if len(number) == 4 else numerals.cardinal(number, "en")
    if said.endswith("y"):
        return said[:-1] + "ies"
    return said + "s"


def _fraction(numerator: int, denominator: int) -> str:
    top = numerals.cardinal(str(numerator), "en")
    if numerator >= denominator > 0:  # 24/7, 50/50: said as two numbers
        return f"{top} {numerals.cardinal(str(denominator), 'en')}"
    if denominator in (0, 1) or denominator > 1000:
        return f"{top} over {numerals.cardinal(str(denominator), 'en')}"
    if denominator == 2:
        bottom = "half" if numerator == 1 else "halves"
    elif denominator == 4:
        bottom = "quarter" if numerator == 1 else "quarters"
    else:
        bottom = ordinal(str(denominator)) + ("" if numerator == 1 else "s")
    return f"{top} {bottom}"


def _vulgar(match: re.Match[str]) -> str:
    top, _, bottom = _VULGAR[match["vulgar"]].partition("/")
    said = _fraction(int(top), int(bottom))
    if match["whole"]:
        said = f"{numerals.cardinal(match['whole'], 'en')} and {said.replace('one ', 'a ', 1)}"
    return said


_VULGAR = {
    "½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5",
    "⅗": "3/5", "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8",
    "⅞": "7/8",
}  # fmt: skip


def _roman(text: str) -> int | None:
    if not text or not _ROMAN.fullmatch(text):
        return None
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for here, after in zip(text, text[1:] + " ", strict=True):
        value = values[here]
        total += -value if after != " " and values[after] > value else value
    return total


def _roman_count(match: re.Match[str]) -> str | None:
    value = _roman(match["roman"])
    return None if value is None else numerals.cardinal(str(value), "en")


def _regnal(match: re.Match[str]) -> str | None:
    value = _roman(match["roman"])
    return None if value is None or value < 2 else f"the {ordinal(str(value))}"


def _keep_dot(match: re.Match[str], said: str, *, final: bool = False) -> str | list[Edit]:
    """An abbreviation's own dot is also a sentence's full stop when it ends the text (or, for
    one that often ends a sentence, ``final``: "etc.", "Elm St.", when a capital follows): then
    the dot stays, as punctuation."""
    text, end = match.string, match.end()
    after = text[end:]
    if match.group().endswith(".") and (
        not after.strip() or (final and re.match(r"\s+[A-Z]", after))
    ):
        return [(match.start(), end - 1, said)]
    return said


def _word_before(match: re.Match[str]) -> tuple[str, bool]:
    """The word before the match, and whether it is the sentence's first word."""
    text, start = match.string, match.start()
    found = re.search(r"(\S+)\s+$", text[max(0, start - 64) : start])
    if found is None:
        return "", True
    at = max(0, start - 64) + found.start()
    return found[1], not text[:at].strip()


def _title(match: re.Match[str]) -> str | list[Edit]:
    word = match["title"]
    before, first = _word_before(match)
    if word in _STREETS and before and (before[0].isdigit() or (before[0].isupper() and not first)):
        return _keep_dot(match, _STREETS[word], final=True)
    return _TITLES[word]  # a name follows: the dot is the abbreviation's alone


def _street(match: re.Match[str]) -> str | list[Edit] | None:
    before, _ = _word_before(match)
    if not before or not (before[0].isupper() or before[0].isdigit()):
        return None
    return _keep_dot(match, _STREETS[match["title"]], final=True)


def rules(*, american: bool) -> list[Rule]:
    """The English rules, most specific first."""
    number = partial(_number_or_year, american=american)
    return [
        *web_rules("en"),
        (re.compile(  # phone numbers: (555) 123-4567, 555-123-4567, +1 555 123 4567, 555-1234
            r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[.-]\d{4}(?!\d)"
            r"|(?<![\w+\-])(?P<local>\d{3}-\d{4})(?![\d-])"
            r"|(?<![\w+])\+\d{1,3}(?:[\s.-]\d{1,4}){2,5}(?!\d)"
        ), _phone),
        (re.compile(
            rf"{_FREE}(?:(?P<iso>(?P<y>\d{{4}})-(?P<m>\d\d)-(?P<d>\d\d))"
            rf"|(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})/(?P<year>\d{{4}}|\d\d)){_END}(?![/-]\d)"
        ), partial(dates.numeric_date, american=american)),
        (re.compile(
            rf"\b{dates.MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{{4}})\b)?"
        ), partial(dates.named_date, american=american)),
        (re.compile(
            rf"(?:\b[Tt]he\s+)?{_FREE}(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{dates.MONTH}"
            r"(?:,?\s+(?P<year>\d{4})\b)?"
        ), partial(dates.named_date, american=False)),
        (re.compile(
            r"(?<![\w:.])(?P<hour>\d{1,2})(?:(?::|\.(?=\d\d\s?[AaPp]\.?[Mm]\b))(?P<minute>\d\d)"
            r"(?::(?P<second>\d\d))?"
            rf"(?:\s?(?P<ampm>[AaPp])\.?[Mm]\b{_DOT})?|\s?(?P<ampm2>[AaPp])\.?[Mm]\b{_DOT})(?![\d:])"
        ), dates.clock),
        (re.compile(
            rf"(?P<minus>[-−])?(?P<symbol>[$€£¥₹])\s?(?P<amount>{NUMBER})"
            rf"(?:\s(?P<scale>{_SCALES}))?{_END}"
        ), partial(_money, american=american)),
        (re.compile(rf"{_FREE}(?P<amount>[-−]?{NUMBER})\s?(?:%|\spercent\b)"),
         lambda m: f"{say_number(m['amount'], american=american)} percent"),
        (re.compile(
            rf"{_FREE}(?P<amount>[-−]?{NUMBER}(?:\s?[-–]\s?{NUMBER})?)\s?(?P<unit>{_UNIT})(?![\w/])"
        ),
         partial(_unit, american=american)),
        (re.compile(rf"{_FREE}(?P<a>{NUMBER})[eE](?P<b>[-+]?\d{{1,4}}){_END}"),
         lambda m: f"{say_number(m['a'], american=american)} times ten to the power of "
         f"{say_number(m['b'].lstrip('+'), american=american)}"),
        (re.compile(rf"{_FREE}(?P<a>{NUMBER})(?P<dash>\s?[-–—]\s?)(?P<b>{NUMBER}){_END}(?![.,]\d)"),
         lambda m: [(m.start("a"), m.end("a"), number(m["a"])),
                    (m.start("dash"), m.end("dash"), "to"),
                    (m.start("b"), m.end("b"), number(m["b"]))]),  # fmt: skip
        (re.compile(r"(?<![\w.])'?(?P<n>\d0|1[1-9]\d0|20\d0)s\b"), _decade),
        (re.compile(r"(?<![\w.])(?P<n>\d+)(?:st|nd|rd|th)\b"), lambda m: ordinal(m["n"], american=american)),
        (re.compile(r"(?<![\w.])(?P<whole>\d+)?\s?(?P<vulgar>[½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞])"), _vulgar),
        (re.compile(r"(?<![\w./])(?P<a>\d{1,6})/(?P<b>\d{1,6})(?![\w/])"),
         lambda m: _fraction(int(m["a"]), int(m["b"]))),
        (re.compile(r"\bNo\.\s?(?=\d)|#(?=\d)"), lambda m: "number"),
        (re.compile(rf"(?<![\w.,\-−)])(?P<minus>[-−])?(?<![\w.,])(?P<n>{NUMBER}){_END}(?![.,]\d)"),
         lambda m: ("minus " if m["minus"] and m["n"].strip("0.,") else "") + number(m["n"])),
        (re.compile(r"\b(?P<title>Dr|Mrs?|Ms|Prof|St|Mt|Capt|Gen|Sgt|Rev|Sen|Gov|Lt)\.(?=\s+[A-Z])"),
         _title),
        (re.compile(r"(?<=[A-Za-z0-9] )(?P<title>St|Dr|Ave|Rd|Blvd)\.?(?!\w)"), _street),
        (re.compile(r"(?<!\w)(?:e\.g\.|i\.e\.|etc\.|vs\.?|approx\.)(?!\w)|&"),
         lambda m: _keep_dot(m, _LATIN[m.group()], final=m.group() == "etc.")),
        (re.compile(rf"\b(?:{_ROMAN_AFTER})\s+(?P<roman>[IVXLC]+)\b"),
         lambda m: _roman_tail(m, _roman_count)),
        (re.compile(r"\b[A-Z][a-z]+\s+(?P<roman>[IVX]{2,})\b"), lambda m: _roman_tail(m, _regnal)),
    ]  # fmt: skip


def _roman_tail(
    match: re.Match[str], read: Callable[[re.Match[str]], str | None]
) -> list[Edit] | None:
    said = read(match)
    return None if said is None else [(match.start("roman"), match.end("roman"), said)]


def _phone(match: re.Match[str]) -> str | None:
    if (
        match["local"]
        and match["local"].replace("-", "").endswith("0")
        and match["local"][2] == "0"
    ):
        return None  # 100-2000, 250-1000: a range of round numbers, not a phone number
    groups = re.findall(r"\d+", match.group())
    said = ", ".join(numerals.digits(group, "en") for group in groups)
    return f"plus {said}" if match.group().startswith("+") else said
