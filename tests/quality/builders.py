"""Builders for the quality tests: small, hand-written multilingual examples."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from synthembed.quality.base import EXAMPLE_SCHEMA

#: A paragraph per language, written for these tests (about 40-60 words each).
TEXTS = {
    "en": (
        "The city council approved a new plan to repair the old bridge over the river. Work will "
        "start in spring and should take about eight months. During that time buses will use a "
        "temporary route, and cyclists can cross on a narrow lane next to the footpath. Residents "
        "asked for better signs and quieter machines at night."
    ),
    "de": (
        "Der Stadtrat hat einen neuen Plan zur Reparatur der alten Brücke über den Fluss "
        "beschlossen. Die Arbeiten beginnen im Frühjahr und dauern etwa acht Monate. In dieser Zeit "
        "fahren die Busse eine Umleitung, und Radfahrer können auf einem schmalen Streifen neben dem "
        "Gehweg den Fluss überqueren."
    ),
    "fr": (
        "Le conseil municipal a approuvé un nouveau plan pour réparer le vieux pont sur la rivière. "
        "Les travaux commenceront au printemps et devraient durer environ huit mois. Pendant ce "
        "temps, les bus emprunteront un itinéraire provisoire et les cyclistes pourront traverser "
        "sur une voie étroite à côté du trottoir."
    ),
    "ru": (
        "Городской совет утвердил новый план ремонта старого моста через реку. Работы начнутся "
        "весной и продлятся около восьми месяцев. В это время автобусы будут ходить по временному "
        "маршруту, а велосипедисты смогут переезжать реку по узкой полосе рядом с тротуаром."
    ),
    "zh": (
        "市议会批准了一项修复河上旧桥的新计划。工程将于春季开始，预计持续大约八个月。在此期间，"
        "公交车将改走临时路线，骑自行车的人可以在人行道旁边的一条窄道上过河。居民们希望夜间施工时"
        "机器能安静一些。"
    ),
    "ja": (
        "市議会は川にかかる古い橋を修理する新しい計画を承認しました。工事は春に始まり、およそ八か月"
        "かかる予定です。その間、バスは臨時のルートを走り、自転車に乗る人は歩道の横の狭い車線で川を"
        "渡ることができます。"
    ),
    "ar": (
        "وافق مجلس المدينة على خطة جديدة لإصلاح الجسر القديم فوق النهر. ستبدأ الأعمال في الربيع "
        "وتستمر نحو ثمانية أشهر. خلال هذه الفترة ستسلك الحافلات طريقا مؤقتا، ويمكن لراكبي الدراجات "
        "العبور في ممر ضيق بجانب الرصيف."
    ),
    "hi": (
        "नगर परिषद ने नदी पर बने पुराने पुल की मरम्मत के लिए एक नई योजना को मंजूरी दी है। काम वसंत में "
        "शुरू होगा और लगभग आठ महीने चलेगा। इस दौरान बसें एक अस्थायी रास्ते से चलेंगी और साइकिल चलाने "
        "वाले फुटपाथ के पास एक संकरी लेन से नदी पार कर सकेंगे।"
    ),
    "sr": (
        "Градско веће је усвојило нови план за поправку старог моста преко реке. Радови ће почети у "
        "пролеће и трајаће око осам месеци. За то време аутобуси ће ићи привременом трасом, а "
        "бициклисти ће моћи да пређу реку уском траком поред тротоара."
    ),
    "sr-latn": (
        "Gradsko veće je usvojilo novi plan za popravku starog mosta preko reke. Radovi će početi u "
        "proleće i trajaće oko osam meseci. Za to vreme autobusi će ići privremenom trasom, a "
        "biciklisti će moći da pređu reku uskom trakom pored trotoara."
    ),
    "es": (
        "El ayuntamiento aprobó un nuevo plan para reparar el viejo puente sobre el río. Las obras "
        "empezarán en primavera y durarán unos ocho meses. Durante ese tiempo los autobuses tomarán "
        "una ruta provisional y los ciclistas podrán cruzar por un carril estrecho junto a la acera."
    ),
    "ko": (
        "시의회는 강 위의 오래된 다리를 수리하는 새로운 계획을 승인했다. 공사는 봄에 시작되어 약 여덟 달 "
        "동안 계속될 예정이다. 그동안 버스는 임시 노선으로 운행하고, 자전거를 타는 사람들은 보도 옆의 "
        "좁은 차선으로 강을 건널 수 있다."
    ),
}


def example(
    *,
    id: str = "ex-1",
    task_type: str = "retrieval",
    language: str = "en",
    query: str = "how long will the old river bridge repair take",
    positive: str | None = None,
    negative: str | None = None,
    instruction: str = "Given a question about local news, retrieve articles that answer it.",
    placeholders: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
    extra_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One example row (meta as a dict); defaults make a valid English retrieval example."""
    if positive is None:
        positive = TEXTS["en"]
    if negative is None:
        negative = (
            "The regional rail company published its winter timetable. Trains to the coast will run "
            "every hour, and a new night service connects the airport with the main station on "
            "weekends. Tickets can be bought online or from machines on every platform."
        )
    meta: dict[str, Any] = {"placeholders": placeholders or {}, "template_id": "t", "model": "fake"}
    if fields is not None:
        meta["fields"] = fields
    if extra_fields is not None:
        meta["extra_fields"] = extra_fields
    return {
        "id": id,
        "task_type": task_type,
        "instruction": instruction,
        "language": language,
        "query": query,
        "positive": positive,
        "negative": negative,
        "meta": meta,
    }


def to_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """Rows -> a record batch with meta serialised as JSON."""
    data = [{**r, "meta": json.dumps(r.get("meta") or {}, ensure_ascii=False)} for r in rows]
    return pa.RecordBatch.from_pylist(data, schema=EXAMPLE_SCHEMA)
