"""Write the example's synthetic news-summarization data: small, deterministic, no downloads.

    python data/generate.py           # rewrites the files below, byte for byte the same each time
    python data/generate.py --check   # exits 1 if a committed file differs from what it would write

Every item is a short news article made from templates (companies, cities, people, numbers,
events) with a one-line headline-style summary. The lead sentence carries the facts; the other
sentences add context and distracting numbers, so a summarizer has to pick the right ones.

    domain-news/v1/train.jsonl          200 articles; about one summary in five is flawed
                                        (a distracting number, cut short, or another article's)
    domain-news/v2/train.jsonl          600 articles, every summary clean ("more and better data")
    evaluation-prompts/v1/prompts.jsonl  40 held-out articles with reference summaries
    evaluation-prompts/v2/prompts.jsonl  40 items copied from domain-news/v2: the references leak
                                        the training targets (the flawed set the story flags)
    evaluation-prompts/v3/prompts.jsonl  60 held-out articles, built like v1 with new draws

Training lines are {"id", "article", "summary"}; evaluation lines {"id", "article", "reference"}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

COMPANY_STEMS = [
    "Northwind", "Bluefield", "Aster", "Kestrel", "Orion", "Harbor", "Silverline", "Redwood",
    "Nimbus", "Copperleaf", "Granite", "Lumen", "Meridian", "Falcon", "Evergreen", "Beacon",
    "Cobalt", "Summit", "Riverstone", "Vantage", "Polaris", "Juniper", "Ironbridge", "Halcyon",
]  # fmt: skip
SECTORS = {
    "Logistics": "freight", "Energy": "energy", "Foods": "food", "Systems": "software",
    "Motors": "carmaker", "Pharma": "drugmaker", "Bank": "banking", "Textiles": "clothing",
    "Robotics": "robotics", "Airlines": "airline", "Telecom": "telecoms", "Steel": "steel",
}  # fmt: skip
CITIES = [
    "Tampere", "Porto", "Leeds", "Lyon", "Gdansk", "Bergen", "Graz", "Utrecht", "Bilbao", "Turin",
    "Aarhus", "Brno", "Ghent", "Malmo", "Cork", "Dresden", "Split", "Tartu", "Basel", "Seville",
    "Krakow", "Bremen", "Nantes", "Bologna", "Vilnius", "Linz", "Oulu", "Galway", "Kaunas", "Riga",
]  # fmt: skip
FIRST_NAMES = [
    "Maria", "Jonas", "Elena", "Tomas", "Sofia", "Lukas", "Anna", "Pieter", "Clara", "Mikko",
    "Ines", "Oskar", "Laura", "Henrik", "Nora", "Marco", "Eva", "Stefan", "Julia", "Pablo",
]  # fmt: skip
LAST_NAMES = [
    "Lind", "Novak", "Moreau", "Berg", "Costa", "Keller", "Virtanen", "Jansen", "Rossi", "Walsh",
    "Nowak", "Dubois", "Hansen", "Silva", "Fischer", "Kowalski", "Meyer", "Laine", "Ferrari", "Ortiz",
]  # fmt: skip
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = ["January", "March", "April", "June", "September", "October", "November"]
FACILITIES = ["factory", "warehouse", "data centre", "research centre", "distribution hub"]
PRODUCTS = ["electric scooter", "smart thermostat", "delivery drone", "budget phone", "solar panel"]
REASONS = [
    "in the Baltic region", "from online shoppers", "for its newest products", "in Asian markets",
    "from public sector clients", "during the holiday season",
]  # fmt: skip
ORDINALS = ["second", "third", "fourth", "fifth", "sixth", "seventh"]


class Draw:
    """The random choices of one article, from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def company(self) -> tuple[str, str]:
        suffix = self.rng.choice(sorted(SECTORS))
        return f"{self.rng.choice(COMPANY_STEMS)} {suffix}", SECTORS[suffix]

    def person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def number(self, low: int, high: int, *, avoid: int | None = None) -> int:
        while True:
            value = self.rng.randint(low, high)
            if value != avoid:
                return value


# Each template returns (lead sentence, context sentences, summary, a flawed summary).
Article = tuple[str, list[str], str, str]


def earnings(d: Draw) -> Article:
    company, sector = d.company()
    city, day, person = d.pick(CITIES), d.pick(DAYS), d.person()
    up = d.rng.random() < 0.6
    pct, other = d.number(2, 30), d.number(2, 30)
    revenue = d.number(20, 900)
    verb, headline = ("rose", "rises") if up else ("fell", "falls")
    lead = (
        f"{company}, a {sector} company based in {city}, said on {day} that its quarterly revenue "
        f"{verb} {pct} percent to {revenue} million euros."
    )
    context = [
        f"Chief executive {person} credited {'strong' if up else 'weak'} demand {d.pick(REASONS)}.",
        f"Analysts had expected a change of {other} percent.",
        f"The company employs about {d.number(200, 9000)} people.",
    ]
    summary = f"{company} quarterly revenue {headline} {pct} percent to {revenue} million euros."
    flawed = f"{company} quarterly revenue {headline} {other} percent to {revenue} million euros."
    return lead, context, summary, flawed


def acquisition(d: Draw) -> Article:
    buyer, _ = d.company()
    target, sector = d.company()
    while target.split()[0] == buyer.split()[0]:
        target, sector = d.company()
    price, staff = d.number(15, 2500), d.number(50, 4000)
    lead = (
        f"{buyer} has agreed to buy {target} for {price} million euros, the companies said on {d.pick(DAYS)}."
    )
    context = [
        f"{target}, a {sector} firm based in {d.pick(CITIES)}, has {staff} employees.",
        f"{d.person()}, chief executive of {buyer}, said the purchase would double its market share.",
        f"The deal is expected to close in {d.pick(MONTHS)}.",
    ]
    summary = f"{buyer} to buy {target} for {price} million euros."
    flawed = f"{buyer} to buy {target} for {staff} million euros."
    return lead, context, summary, flawed


def opening(d: Draw) -> Article:
    company, _ = d.company()
    city, facility = d.pick(CITIES), d.pick(FACILITIES)
    jobs, cost = d.number(40, 1500), d.number(10, 600)
    lead = (
        f"{company} will open a new {facility} in {city}, creating {jobs} jobs, "
        f"the company said on {d.pick(DAYS)}."
    )
    context = [
        f"Construction starts in {d.pick(MONTHS)} and will cost {cost} million euros.",
        f"Mayor {d.person()} welcomed the investment.",
        f"The site will be the company's {d.pick(ORDINALS)} in the country.",
    ]
    summary = f"{company} to open {facility} in {city}, creating {jobs} jobs."
    flawed = f"{company} to open {facility} in {city}, creating {cost} jobs."
    return lead, context, summary, flawed


def layoffs(d: Draw) -> Article:
    company, _ = d.company()
    city = d.pick(CITIES)
    cuts, staff = d.number(30, 2000), d.number(2100, 12000)
    lead = f"{company} plans to cut {cuts} jobs at its site in {city}, a spokesperson said on {d.pick(DAYS)}."
    context = [
        "The company blamed falling orders and rising energy prices.",
        f"It employs {staff} people worldwide.",
        f"Union leader {d.person()} called the decision a heavy blow for the region.",
    ]
    summary = f"{company} to cut {cuts} jobs in {city}."
    flawed = f"{company} to cut {staff} jobs in {city}."
    return lead, context, summary, flawed


def storm(d: Draw) -> Article:
    city, day = d.pick(CITIES), d.pick(DAYS)
    schools, speed, homes = d.number(3, 90), d.number(80, 160), d.number(500, 20000)
    lead = (
        f"A storm closed {schools} schools in {city} on {day} as winds reached {speed} kilometres per hour."
    )
    context = [
        f"About {homes} homes lost power for several hours.",
        f"{d.person()}, a spokesperson for the city, asked residents to stay indoors.",
        "Forecasters expect calmer weather by the weekend.",
    ]
    summary = f"Storm closes {schools} schools in {city}."
    flawed = f"Storm closes {speed} schools in {city}."
    return lead, context, summary, flawed


def match(d: Draw) -> Article:
    home = d.pick(CITIES)
    away = d.pick([c for c in CITIES if c != home])
    scored, conceded = d.number(1, 5), d.number(0, 4)
    while conceded >= scored:
        conceded = d.number(0, 4)
    fans = d.number(3000, 45000)
    lead = f"{home} FC beat {away} United {scored}-{conceded} on {d.pick(DAYS)} in front of {fans} fans."
    context = [
        f"{d.person()} scored twice before half time.",
        f"The win lifts {home} to {d.pick(ORDINALS)} place in the league.",
        f"{away} have now lost {d.number(2, 6)} games in a row.",
    ]
    summary = f"{home} FC beat {away} United {scored}-{conceded}."
    flawed = f"{away} United beat {home} FC {scored}-{conceded}."
    return lead, context, summary, flawed


def budget(d: Draw) -> Article:
    city = d.pick(CITIES)
    amount, homes = d.number(40, 950), d.number(100, 3000)
    lead = (
        f"The city council of {city} approved a budget of {amount} million euros "
        f"for next year on {d.pick(DAYS)}."
    )
    context = [
        f"The plan includes {homes} new homes and two new bus lines.",
        f"Councillor {d.person()} said the budget keeps taxes unchanged.",
        f"The vote passed by {d.number(20, 40)} votes to {d.number(5, 19)}.",
    ]
    summary = f"{city} council approves budget of {amount} million euros."
    flawed = f"{city} council approves budget of {homes} million euros."
    return lead, context, summary, flawed


def launch(d: Draw) -> Article:
    company, _ = d.company()
    product = d.pick(PRODUCTS)
    price, units = d.number(49, 1999), d.number(5, 400)
    lead = f"{company} launched a new {product} on {d.pick(DAYS)}, priced at {price} euros."
    context = [
        f"The company expects to sell {units} thousand units in the first year.",
        f"{d.person()}, head of product, said it was two years in the making.",
        f"It goes on sale in {d.pick(CITIES)} first.",
    ]
    summary = f"{company} launches {product} priced at {price} euros."
    flawed = f"{company} launches {product} priced at {units} euros."
    return lead, context, summary, flawed


TEMPLATES: list[Callable[[Draw], Article]] = [
    earnings, acquisition, opening, layoffs, storm, match, budget, launch,
]  # fmt: skip


def article(d: Draw) -> tuple[str, str, str]:
    """(article, summary, flawed summary): the lead first, then the context in a random order."""
    lead, context, summary, flawed = d.rng.choice(TEMPLATES)(d)
    d.rng.shuffle(context)
    kept = context[: d.rng.choice([2, 3])]
    return " ".join([lead, *kept]), summary, flawed


def articles(seed: int, count: int, seen: set[str]) -> list[tuple[str, str, str]]:
    """``count`` articles whose text is not in ``seen`` (which they are added to)."""
    d = Draw(random.Random(seed))
    found = []
    while len(found) < count:
        text, summary, flawed = article(d)
        if text not in seen:
            seen.add(text)
            found.append((text, summary, flawed))
    return found


def build() -> dict[str, list[dict[str, str]]]:
    seen: set[str] = set()
    v1_train = articles(1, 200, seen)
    v2_train = articles(2, 600, seen)
    eval_v1 = articles(101, 40, seen)
    eval_v3 = articles(103, 60, seen)

    noise = random.Random(11)
    v1_rows = []
    for i, (text, summary, flawed) in enumerate(v1_train):
        roll = noise.random()
        if roll < 0.08:
            summary = flawed  # a distracting number, or the teams swapped
        elif roll < 0.14:
            summary = " ".join(summary.split()[:3])  # cut short
        elif roll < 0.20:
            summary = v1_train[(i + 7) % len(v1_train)][1]  # another article's summary
        v1_rows.append({"id": f"news-v1-{i:04d}", "article": text, "summary": summary})
    v2_rows = [
        {"id": f"news-v2-{i:04d}", "article": text, "summary": summary}
        for i, (text, summary, _) in enumerate(v2_train)
    ]
    # The flaw of evaluation-prompts/v2: it was assembled from the training pool, so its
    # references are training targets, copied word for word.
    leaked = random.Random(12).sample(v2_rows, 40)
    return {
        "domain-news/v1/train.jsonl": v1_rows,
        "domain-news/v2/train.jsonl": v2_rows,
        "evaluation-prompts/v1/prompts.jsonl": _prompts("eval-v1", eval_v1),
        "evaluation-prompts/v2/prompts.jsonl": [
            {"id": f"eval-v2-{i:04d}", "article": row["article"], "reference": row["summary"]}
            for i, row in enumerate(leaked)
        ],
        "evaluation-prompts/v3/prompts.jsonl": _prompts("eval-v3", eval_v3),
    }


def _prompts(prefix: str, items: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [
        {"id": f"{prefix}-{i:04d}", "article": text, "reference": summary}
        for i, (text, summary, _) in enumerate(items)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk")
    check = parser.parse_args().check
    stale = []
    for name, rows in build().items():
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"{name}: {len(rows)} items, {len(text.encode())} bytes")
    if stale:
        print("differs from what generate.py writes:", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
