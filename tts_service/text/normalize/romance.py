"""Spanish, French, Italian and Brazilian Portuguese: numbers as their readers write them
(1.234,5 or 1 234,5), money, percentages, ordinals (1º, 1er), clock times, dates (day first),
ranges and common units, in words from ``num2words``."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation
from functools import partial

from num2words import num2words

from tts_service.text.normalize import numerals
from tts_service.text.normalize.align import Edit, Rule
from tts_service.text.normalize.web import web_rules

NUMBER = r"(?:\d{1,3}(?:[.\u00a0\u202f]\d{3})+(?:,\d+)?|\d+(?:,\d+)?)"
"""1.234,5 · 1 234,5 (narrow spaces) · 3,14 · 42."""
_FREE = r"(?<![\w.,])"
_END = r"(?![\w])(?![.,]\d)"


WORDS: dict[str, dict[str, str]] = {
    "es": {"percent": "por ciento", "to": "a", "of": "de ", "year_of": "de ", "hours": "",
           "months": "enero febrero marzo abril mayo junio julio agosto septiembre octubre "
                     "noviembre diciembre", "first": "primero"},
    "fr": {"percent": "pour cent", "to": "à", "of": "", "year_of": "", "hours": "heures",
           "months": "janvier février mars avril mai juin juillet août septembre octobre "
                     "novembre décembre", "first": "premier"},
    "it": {"percent": "per cento", "to": "a", "of": "", "year_of": "", "hours": "e",
           "months": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre "
                     "ottobre novembre dicembre", "first": "primo"},
    "pt_BR": {"percent": "por cento", "to": "a", "of": "de ", "year_of": "de ", "hours": "e",
              "months": "janeiro fevereiro março abril maio junho julho agosto setembro "
                        "outubro novembro dezembro", "first": "primeiro"},
}  # fmt: skip
_CURRENCY_CODES = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "R$": "BRL"}
_CURRENCY_NAMES = {
    "es": {"USD": "dólares", "EUR": "euros", "GBP": "libras", "BRL": "reales"},
    "fr": {"USD": "dollars", "EUR": "euros", "GBP": "livres", "BRL": "réaux"},
    "it": {"USD": "dollari", "EUR": "euro", "GBP": "sterline", "BRL": "real"},
    "pt_BR": {"USD": "dólares", "EUR": "euros", "GBP": "libras", "BRL": "reais"},
}
_UNITS = {
    "km/h": {"es": "kilómetros por hora", "fr": "kilomètres heure", "it": "chilometri orari",
             "pt_BR": "quilômetros por hora"},
    "km": {"es": "kilómetros", "fr": "kilomètres", "it": "chilometri", "pt_BR": "quilômetros"},
    "kg": {"es": "kilos", "fr": "kilos", "it": "chili", "pt_BR": "quilos"},
    "cm": {"es": "centímetros", "fr": "centimètres", "it": "centimetri",
           "pt_BR": "centímetros"},
    "°C": {"es": "grados", "fr": "degrés", "it": "gradi", "pt_BR": "graus"},
    "MB": {"es": "megas", "fr": "mégaoctets", "it": "megabyte", "pt_BR": "megas"},
    "GB": {"es": "gigas", "fr": "gigaoctets", "it": "gigabyte", "pt_BR": "gigas"},
}  # fmt: skip
_UNIT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))


def say_number(text: str, code: str) -> str:
    negative = text.startswith(("-", "−"))
    text = re.sub(r"[.\u00a0\u202f]", "", text.lstrip("-−"))
    whole, _, fraction = text.partition(",")
    said = numerals.cardinal(("-" if negative else "") + whole, code)
    if fraction:
        point = numerals.decimal("0", "1", code).split()[1]  # the language's word for the comma
        tail = (
            numerals.cardinal(fraction, code)
            if len(fraction) <= 2 and not fraction.startswith("0")
            else numerals.digits(fraction, code)
        )
        said = f"{said} {point} {tail}"
    return said


def _money(match: re.Match[str], code: str) -> str | None:
    written = match["amount"] or match["amount2"]
    currency = _CURRENCY_CODES[match["symbol"] or match["after"]]
    amount = re.sub(r"[.\u00a0\u202f]", "", written).replace(",", ".")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return None
    if len(amount.partition(".")[2]) <= 2 and value < 10**12:
        try:
            if code == "pt_BR":
                if currency == "BRL":
                    return str(num2words(value, lang=code, to="currency")).replace(",", "")
            else:
                said = num2words(value, lang=code, to="currency", currency=currency)
                return str(said).replace(",", "")
        except NotImplementedError:
            pass
    return f"{say_number(written, code)} {_CURRENCY_NAMES[code][currency]}"


def _date(match: re.Match[str], code: str) -> str | None:
    if match["iso"]:
        year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    else:
        day, month, year = int(match["a"]), int(match["b"]), int(match["year"])
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None
    words = WORDS[code]
    name = words["months"].split()[month - 1]
    said_day = words["first"] if day == 1 else numerals.cardinal(str(day), code)
    return f"{said_day} {words['of']}{name} {words['year_of']}{numerals.cardinal(str(year), code)}"


def _time(match: re.Match[str], code: str) -> str | None:
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23 or minute > 59:
        return None
    words = WORDS[code]
    said = numerals.cardinal(str(hour), code)
    if words["hours"]:
        said += f" {words['hours']}"
    return f"{said} {numerals.cardinal(str(minute), code)}" if minute else said


def _unit(match: re.Match[str], code: str) -> list[Edit]:
    low, _, high = re.sub(r"(?<=\d)\s?[-–]\s?(?=\d)", "~", match["amount"], count=1).partition("~")
    said = say_number(low, code)
    if high:
        said += f" {WORDS[code]['to']} {say_number(high, code)}"
    return [
        (match.start("amount"), match.end("amount"), said),
        (match.start("unit"), match.end("unit"), _UNITS[match["unit"]][code]),
    ]


def rules(code: str) -> list[Rule]:
    words = WORDS[code]
    number = partial(say_number, code=code)
    ordinal = r"(?:\.?[ºª°])" if code != "fr" else r"(?:er|re|e|ème|eme)\b"
    return [
        *web_rules(code),
        (re.compile(
            rf"{_FREE}(?:(?P<iso>(?P<y>\d{{4}})-(?P<m>\d\d)-(?P<d>\d\d))"
            r"|(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<year>\d{4}))(?![\w/-])"
        ), partial(_date, code=code)),
        (re.compile(r"(?<![\w:])(?P<h>\d{1,2})[:h](?P<m>\d\d)(?![\d:])"),
         partial(_time, code=code)),
        (re.compile(
            rf"(?P<symbol>R\$|US\$|[$€£])\s?(?P<amount>{NUMBER}){_END}"
            rf"|{_FREE}(?P<amount2>{NUMBER})\s?(?P<after>€|\$)"
        ), partial(_money, code=code)),
        (re.compile(rf"{_FREE}(?P<n>[-−]?{NUMBER})\s?%"),
         lambda m: f"{number(m['n'])} {words['percent']}"),
        (re.compile(
            rf"{_FREE}(?P<amount>[-−]?{NUMBER}(?:\s?[-–]\s?{NUMBER})?)\s?(?P<unit>{_UNIT})(?![\w/])"
        ),
         partial(_unit, code=code)),
        (re.compile(rf"{_FREE}(?P<a>{NUMBER})(?P<dash>\s?[-–]\s?)(?P<b>{NUMBER}){_END}"),
         lambda m: [(m.start("a"), m.end("a"), number(m["a"])),
                    (m.start("dash"), m.end("dash"), words["to"]),
                    (m.start("b"), m.end("b"), number(m["b"]))]),  # fmt: skip
        (re.compile(rf"(?<![\w.])(?P<n>\d+){ordinal}"),
         lambda m: numerals.ordinal(m["n"], code)),
        (re.compile(rf"(?<![\w.,\-−)])(?P<n>[-−]?(?<![\w.,]){NUMBER}){_END}"),
         lambda m: number(m["n"])),
    ]  # fmt: skip
