"""Detection rules for prompt injection and jailbreaks, German and English.

Each rule describes a *kind* of move an attacker makes (override earlier instructions, take
on a persona without limits, extract the system prompt, ...), not a phrase of any one
example, and carries a weight: the probability that a text showing it is an attack. A text's
rule score combines the weights of every rule that fires (noisy-or), so one strong signal or
two weak ones flag it, and business language that shares a word with an attack ("bitte
ignorieren Sie die letzte E-Mail", "Anweisungen des Herstellers", "antworten Sie nur mit Ja
oder Nein") stays below the threshold.

Rules read normalised text (see ``normalise.py``): lower-case ASCII, umlauts folded
("uberspringe", "einschrankungen", "ausser kraft").
"""

from __future__ import annotations

import re
import string
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

PREFIX = 4
"""Letters of a word that the triggers compare."""


@dataclass(frozen=True)
class Rule:
    """A kind of attack move. ``triggers`` are the first four letters of words (a longer
    trigger is a whole word), or marks, without one of which the pattern cannot match: the
    rule only runs when the text has one (a set lookup instead of a scan, since most texts
    trigger no rule at all).

    ``requires`` are further sets of the same kind, one of each of which every match holds
    as well (the object of an override, the verb of a leak): a word such as "new" or
    "system" is common, two parts of one attack in a text are not. A trigger may only stand
    for a word that every match holds whole: "url*" where the pattern reads ``url`` without
    ``\b`` after it ("urls"), joined forms where words may run together ("nurmit")."""

    name: str
    weight: float
    pattern: re.Pattern[str]
    triggers: frozenset[str]
    requires: tuple[frozenset[str], ...] = ()

    def may_match(self, present: AbstractSet[str]) -> bool:
        """Whether the pattern may match a text with the ``present`` words and marks."""
        if present.isdisjoint(self.triggers):
            return False
        return self.has_required(present)

    def has_required(self, present: AbstractSet[str]) -> bool:
        """Whether the ``present`` words and marks hold one of each group of ``requires``."""
        return not any(present.isdisjoint(group) for group in self.requires)


def _triggers(words: str) -> frozenset[str]:
    """Triggers from a string of them; ``stem*`` stands for every word that starts with a
    stem shorter than ``PREFIX`` ("sag*": "sag", "sage", "sagt", ...)."""
    found: set[str] = set()
    for word in words.split():
        if word.endswith("*"):
            stem = word[:-1]
            if len(stem) != PREFIX - 1:
                raise ValueError(f"a stem of {PREFIX - 1} letters, not {word!r}")
            found.add(stem)
            found.update(stem + c for c in string.ascii_lowercase + string.digits)
        else:
            found.add(word)
    return frozenset(found)


def _rule(name: str, weight: float, pattern: str, triggers: str, *requires: str) -> Rule:
    return Rule(
        name,
        weight,
        re.compile(pattern),
        _triggers(triggers),
        tuple(_triggers(group) for group in requires),
    )


# What the instructions are: the objects of an override or a leak.
_EN_ORDERS = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|commands?"
    r"|constraints|programming|restrictions|policies|policy|orders|context|messages?"
    r"|information|tasks?|assignments?|input|everything)"
)
_DE_ORDERS = (
    r"(?:anweisung(?:en)?|instruktion(?:en)?|regeln|vorgaben|befehle?|prompts?|richtlinien"
    r"|anordnungen|einschrankungen|programmierung|kontext|auftrage?|aufgaben?|direktiven"
    r"|angaben|informationen|ausfuhrungen|eingaben)"
)
# A specific, named set of instructions is business as usual ("the instructions for the
# travel policy", "die Anweisungen zur Reisekostenabrechnung"); an attack names none.
_EN_SPECIFIC = r"(?!\s+(?:regarding|about|for|on|in|of|from|concerning|re|to)\b)"
_DE_SPECIFIC = (
    r"(?!\s+(?:zur|zum|zu|fur|im|in|des|der|vom|von|bezuglich|bzgl|aus|uber|auf|am|beim)\b)"
)
_EN_EARLIER = r"(?:previous|prior|above|earlier|preceding|initial|original|old|system|all|any|your)"
_DE_EARLIER = (
    r"(?:vorherig\w*|bisherig\w*|obig\w*|vorangegangen\w*|vorig\w*|fruher\w*|alle[ns]?"
    r"|samtliche[ns]?|jegliche[ns]?|deine[nrs]?|eure[nrs]?|ursprunglich\w*|sonstig\w*|alt\w*)"
)

RULES: tuple[Rule, ...] = (
    # -- overriding what came before -----------------------------------------------------
    _rule(
        "override-en",
        0.9,
        r"\b(?:ignore|disregard|forget|override|bypass|skip|drop|overwrite|delete|leave|remove"
        r"|set aside|put aside)\b[^.\n]{0,30}?"
        rf"\b{_EN_EARLIER}\b[^.\n]{{0,25}}?\b{_EN_ORDERS}\b{_EN_SPECIFIC}",
        "igno disr forg over bypa skip drop dele leav remo set put",
        # also required: which earlier ones, which orders
        "previous prior above earlier preceding initial original old all any system your",
        "instruction instructions prompt prompts rules directions directives guidelines guardrails "
        "command commands constraints programming restrictions policies policy orders context "
        "message messages information task tasks assignment assignments input everything",
    ),
    _rule(
        "override-de",
        0.9,
        r"\b(?:ignorier\w*|vergiss|vergesst|vergessen sie|missacht\w*|ubergeh\w*|ubergeh"
        r"|uberspring\w*|verwirf|verwerf\w*|loesch\w*|losch\w*|hebe?|setz\w*|lass\w*|entfern\w*"
        r"|streich\w*)\b[^.\n]{0,30}?"
        rf"\b{_DE_EARLIER}\b[^.\n]{{0,25}}?\b{_DE_ORDERS}\b{_DE_SPECIFIC}"
        # the verb at the end: "die obigen Anweisungen ignorieren"
        rf"|\b{_DE_EARLIER}\b[^.\n]{{0,25}}?\b{_DE_ORDERS}\b[^.\n]{{0,20}}?\b(?:ignorieren|vergess"
        rf"en"
        r"|missachten|uberspringen|verwerfen|ausser acht lassen|hinter sich lassen)\b",
        "igno verg miss uber verw loes losc hebe heb setz setze lass entf stre auss hint",
        # also required: which earlier ones, which orders
        "vorh bish obig vora vori fruh alle allen alles samtliche samtlichen samtliches jegliche "
        "jeglichen jegliches deine deinen deiner deines eure euren eurer eures ursp sons alt*",
        "anweisung anweisungen instruktion instruktionen regeln vorgaben befehl befehle prompt "
        "prompts richtlinien anordnungen einschrankungen programmierung kontext auftrag auftrage "
        "aufgabe aufgaben direktiven angaben informationen ausfuhrungen eingaben",
    ),
    _rule(
        "forget-everything",
        0.6,
        r"\b(?:ignore|forget|disregard) (?:everything|all of (?:that|this|the above)|(?:the )?abov"
        r"e|what (?:i|you)"
        r" (?:said|were told)|the above)\b|\b(?:vergiss|vergessen sie|ignorier\w*) (?:alles|"
        r"das (?:alles|obige|bisherige|vorherige|gesagte)|was (?:ich|dir|man) \w+ (?:gesagt|"
        r"aufgetragen))\b",
        "igno forg disr verg",
        # also required: what is to be forgotten
        "ever all abov what alle obig bish vorh gesa aufg",
    ),
    _rule(
        "new-instructions",
        0.45,
        r"\b(?:new|updated|real|actual|true|secret|hidden|your (?:new|real)) "
        r"(?:instructions?|task|rules|orders?|directive|mission|goal)\b\s*(?::|are|is)"
        r"|\b(?:neue|eigentliche|wahre|geheime|versteckte|tatsachliche|deine (?:neue|wahre)) "
        r"(?:aufgabe|anweisung|instruktion|anordnung|mission|regel|regeln)\b\s*(?::|lautet|ist)",
        "new upda real actu true secr hidd neue eige wahr gehe vers tats",
        # also required: the adjective, the orders
        "new updated real actual true secret hidden your neue eigentliche wahre geheime versteckte "
        "tatsachliche deine",
        "instruction instructions task rules order orders directive mission goal aufgabe anweisung "
        "instruktion anordnung regel regeln",
    ),
    # -- becoming someone else -----------------------------------------------------------
    _rule(
        "persona-en",
        0.55,
        r"\b(?:you are now|you're now|now you are|from now on,? you|act as (?:an?|if)|pretend (?:t"
        r"o be|you"
        r" are|that you)|role-?play as|you will now (?:be|act)|behave (?:like|as)|simulate (?:an?"
        r"|being)|imagine you are|you are no longer)\b",
        "now act pret role beha simu imag long",
        # also required: the move, whom it addresses
        "now act pretend role roleplay behave simulate imagine longer",
        "you as pretend behave simulate",
    ),
    _rule(
        "persona-de",
        0.55,
        r"\b(?:du bist (?:jetzt|nun|ab (?:sofort|jetzt)|von nun an|ab heute|ab hier)|(?:ab )?(?:je"
        r"tzt|"
        r"sofort|nun) bist du|von nun an bist du|verhalte dich (?:wie|als)|agiere als|du spielst "
        r"(?:jetzt|nun|ab sofort)|du bist kein\w* (?:ki|assistent|sprachmodell|chatbot)|du bist "
        r"nicht mehr)\b",
        "jetz nun sofo heut hier verh agie spie kein mehr",
        # also required: whom it addresses
        "du verhalte agiere",
    ),
    _rule(
        # Pretending is also how people practise ("Tu so, als ob du den Kunden anrufst"):
        # a weak signal that needs another.
        "pretend-de",
        0.4,
        r"\b(?:tu so,? als (?:ob|warst|waerst|seist)|tun sie so,? als|stell dir vor,? du (?:bist|"
        r"warst|waerst)|stellen sie sich vor,? sie (?:sind|waren))\b",
        "tu tun stel",
    ),
    _rule(
        "unrestricted",
        0.4,
        r"\b(?:do anything now|developer mode|dev mode|jailbreak|jailbroken|unfiltered|uncensored"
        r"|unrestricted|without (?:any )?(?:restrictions|limitations|filters|rules|guidelines|"
        r"ethics|morals|censorship)|no (?:restrictions|limitations|filters|ethical|moral)|"
        r"entwicklermodus|ohne (?:jegliche |irgendwelche )?(?:einschrankungen|beschrankungen|"
        r"filter|regeln|zensur|ethik|moral|grenzen)|unzensiert\w*|uneingeschrankt\w*|"
        r"keine (?:einschrankungen|regeln|filter|grenzen|zensur) mehr)\b",
        "anyt deve dev mode jail unfi unce unre rest limi filt rule ethi mora cens entw eins besc "
        "rege zens ethi gren unze unei",
        # also required: a word that says it alone, or "without" and what
        "anything developer dev jailbreak jailbroken unfiltered uncensored unrestricted "
        "entwicklermodus unze unei without no ohne keine",
        "anything developer dev jailbreak jailbroken unfiltered uncensored unrestricted "
        "entwicklermodus unze unei restrictions limitations filters rules guidelines ethics morals "
        "censorship ethical moral einschrankungen beschrankungen filter regeln zensur ethik "
        "grenzen",
    ),
    _rule(
        "dan",
        0.6,
        r"\b(?:dan|stan|dude|aim)\b(?= (?:mode|modus|prompt|which|der|who|that))",
        "dan stan dude aim",
    ),
    # -- taking the hidden text out --------------------------------------------------------
    _rule(
        "leak-en",
        0.85,
        r"\b(?:reveal|show|print|display|output|repeat|tell me|give me|what (?:is|are|was|were)"
        r"|leak|dump|write out|spell out|list|recite|translate)\b[^.\n]{0,40}?\b(?:system prompt|"
        r"system message|initial (?:prompt|instructions)|hidden (?:prompt|instructions|rules)|"
        r"your (?:instructions|prompt|rules|guidelines|configuration|system|directives)|"
        r"(?:text|words|instructions|everything) (?:above|before this)|pre-?prompt|"
        r"(?:secret|password|api key|passphrase) (?:you were|that you|you have been))\b",
        "syst init hidd inst prom prep guid conf dire rule abov befo secr pass api",
        # also required: the verb, the object
        "reveal show print display output repeat tell give what leak dump write spell list recite "
        "translate",
        "system initial hidden your text words instructions everything pre preprompt secret "
        "password api passphrase",
    ),
    _rule(
        "leak-de",
        0.85,
        r"\b(?:zeig\w*|gib|geben sie|nenn\w*|wiederhol\w*|verrat\w*|ausgeben|druck\w*|schreib\w*"
        r"|sag\w*|was (?:ist|sind|steht|stand) (?:in|im)|lies|ubersetz\w*|liste?)\b[^.\n]{0,40}?"
        r"\b(?:(?:deinen?|ihren?|den) system-?prompt|systemnachricht|deine[nr]? (?:anweisungen|"
        r"instruktionen|regeln|vorgaben|konfiguration|prompt|systemanweisung\w*)|"
        r"(?:den|dem) (?:text|prompt|inhalt) (?:oben|daruber|davor|vor dieser)|"
        r"ursprunglich\w* (?:anweisung|prompt)\w*|versteckt\w* (?:anweisung|prompt|regel)\w*|"
        r"(?:das|dein) (?:geheime |)(?:passwort|kennwort|geheimnis)(?: das| welches)? du)\b",
        "syst anwe inst rege vorg konf prom ursp vers oben daru davo pass kenn gehe",
        # also required: the verb, the object
        "zeig gib gebe nenn wied verr ausgeben druc schr sag* was lies uber list",
        "system systemprompt systemnachricht deine deinen deiner text prompt inhalt ursp vers du",
    ),
    # -- making it answer no matter what ----------------------------------------------------
    _rule(
        "no-refusal",
        0.5,
        r"\b(?:never|do not|don't|must not|cannot|can't|not allowed to)\b[^.\n]{0,20}?\b(?:refuse|"
        r"say (?:no|that you can(?:no|')t|you can(?:no|')t)|decline|apologi[sz]e|warn)\b|"
        r"\byou (?:must|have to|are supposed to|will) (?:always )?answer (?:at all times|"
        r"everything|every question|anything|no matter)|\b(?:du darfst|du sollst|sie durfen)"
        r" (?:nicht|niemals|nie|keine?)\b[^.\n]{0,20}?\b(?:ablehnen|verweigern|warnen|"
        r"einschranken|entschuldig\w*)|\bdu (?:musst|wirst) (?:immer|jede frage|alles) "
        r"(?:antworten|beantworten)",
        "refu say decl apol warn answ able verw warn eins ents antw bean",
        # also required: never, must
        "never not don cannot can you darfst sollst durfen musst wirst",
    ),
    _rule(
        "answer-with",
        0.35,
        r"\b(?:answer|respond|reply|say|output|print|write|return)\b (?:only |just |exactly )?"
        r"(?:with|the (?:word|phrase|sentence|text))\b|\b(?:antworte|antwortet|sag|sage|schreib|"
        r"schreibe|gib) (?:nur|ausschliesslich|lediglich|genau)? ?(?:mit|folgendes|den satz|"
        r"das wort)\b",
        "answ resp repl say outp prin writ retu antw sag sage schr gib",
        # also required: the verb, what to answer with ("nurmit": the words may run together)
        "answer respond reply say output print write return antworte antwortet sag sage schreib "
        "schreibe gib",
        "with word phrase sentence text mit folgendes satz wort auss ledi gena nurm nurf",
    ),
    # -- claiming authority ------------------------------------------------------------------
    _rule(
        "authority",
        0.5,
        r"\b(?:i am|i'm|this is) (?:your|the|an?) (?:developer|creator|admin|administrator|owner|"
        r"programmer|operator|maker)\b|\b(?:ich bin|hier spricht) (?:dein|deine|der|die|ihr) "
        r"(?:entwickler\w*|schopfer\w*|admin\w*|administrator\w*|betreiber\w*|programmierer\w*)"
        r"\b|\b(?:admin|developer|system|root|sudo|god) (?:mode|access|override|command|"
        r"modus|zugriff)\b",
        "deve crea admi owne prog oper make entw scho betr syst root sudo god",
        # also required: the role, and who claims it or what for
        "developer creator admin administrator owner programmer operator maker entw scho admi betr "
        "prog system root sudo god",
        "i this bin spricht mode access override command modus zugriff",
    ),
    _rule(
        "not-an-injection",
        0.5,
        r"\bthis is not (?:a|an) (?:prompt )?injection\b|\bdas ist keine (?:prompt-?)?injection\b",
        "inje",
    ),
    # -- speaking to the AI about the AI ----------------------------------------------------
    _rule(
        "addresses-ai",
        0.3,
        r"\b(?:as an? (?:ai|language model|llm|chatbot|assistant)|you are an? (?:ai|language model"
        r"|llm|chatbot|assistant)|als (?:ki|sprachmodell|chatbot|ki-assistent)|du bist (?:eine?"
        r" )?(?:ki|sprachmodell|chatbot|assistent))\b",
        "ai lang llm chat assi ki spra",
        # also required: as, are
        "as are als bist",
    ),
    _rule(
        "to-ai-systems",
        0.6,
        r"\b(?:note|instruction|message|attention|hinweis|anweisung|nachricht|achtung) (?:to|for|"
        r"an|fur) (?:all |any |the |die |alle )?(?:ai|ki|llm|assistant|assistent|chatbot|"
        r"language model|sprachmodell)\w*\b|\bif you are an? (?:ai|language model|llm|assistant|"
        r"chatbot)\b|\bwenn du (?:eine?|ein) (?:ki|sprachmodell|chatbot|assistent)\w* bist\b|"
        r"\b(?:ai|ki)[- ](?:assistants?|assistenten|systeme?|models?|modelle?) (?:reading|"
        r"processing|die diese?n?)\b",
        "ai ki llm assi chat lang spra",
        # also required: note to, if you are
        "note instruction message attention hinweis anweisung nachricht achtung if wenn reading "
        "processing dies",
    ),
    # -- leaving through a link --------------------------------------------------------------
    _rule(
        "exfiltrate",
        0.7,
        r"\b(?:send|post|upload|forward|transmit|leak|exfiltrate|schick\w*|sende\w*|ubermittl\w*"
        r"|leite\w*)\b[^.\n]{0,60}?(?:https?://|\b(?:to|an) (?:this|the following|my|diese|"
        r"folgende|meine) (?:url|address|adresse|server|endpoint|webhook|e-?mail))|"
        r"!\[[^\]]*\]\(https?://[^)\s]*[?&][^)\s]*=",
        "send post uplo forw tran leak exfi schi send uber leit http",
        # also required: where to
        ":// url* addr adre serv endp webh emai e",
    ),
    # -- forged structure ----------------------------------------------------------------------
    _rule(
        "fake-delimiter",
        0.5,
        r"(?:^|\s)(?:#{2,}|-{3,}|={3,})\s*(?:system|instruction|admin|developer|assistant|end"
        r"|anweisung|neue anweisung)\b|<\|?(?:im_start|im_end|system|endoftext)\|?>|"
        r"\[/?(?:inst|system|sys)\]|</?(?:system|user|assistant|instructions?)>",
        "## --- === <| [inst [/inst [sys [/sys </ <sys <user <assi <inst",
    ),
    _rule(
        "fiction-frame",
        0.3,
        r"\b(?:hypothetically|in a (?:fictional|hypothetical|imaginary) (?:world|scenario|story"
        r"|universe)|for a (?:novel|story|movie|screenplay)|in a (?:film|movie|play|novel|story) a"
        r"bout"
        r"|in einem (?:film|roman|theaterstuck) uber|imagine a world|hypothetisch|in einer"
        r" (?:fiktiven|erfundenen) (?:welt|geschichte)|fur einen (?:roman|film))\b",
        "hypo fict imag nove stor movi scre fikt erfu roma film",
    ),
    _rule(
        "task-switch",
        0.5,
        r"\b(?:now|nun|jetzt)\b[^.\n]{0,30}?\b(?:new|further|next|another|other|different|neue[nr]?"
        r"|weitere[nr]?|nachste[nr]?|andere[nr]?)\b[^.\n]{0,15}?\b(?:tasks?|instructions?|assignme"
        r"nts?"
        r"|challenge|aufgaben?|anweisungen?|herausforderung|auftrage?)\b|\b(?:start|begin) (?:over|"
        r"again|from scratch)\b|\b(?:von vorne?|von neu|neu) (?:anfangen|beginnen|starten)\b",
        "now nun jetz star begi vorn neu",
        # also required: what to do
        "task tasks instruction instructions assignment assignments challenge aufgabe aufgaben "
        "anweisunge anweisungen herausforderung auftrag auftrage over again from anfangen beginnen "
        "starten",
    ),
    _rule(
        "closure",
        0.3,
        r"^(?:(?:very )?(?:good|well done|great|excellent|perfect|okay|ok|simply great|thank you|t"
        r"hanks)"
        r"|(?:sehr )?(?:gut|super|perfekt|ausgezeichnet|toll|klasse)(?: gemacht)?|einfach grossart"
        r"ig"
        r"|danke(?: schon)?)\b[^\n]{0,80}?(?:\b(?:that is|that was|that's) (?:enough|done|it|ok)\b"
        r"|\bdas (?:ist|war|genugt|reicht)\b|\b(?:now|nun|jetzt)\b)",
        "very good well grea exce perf okay ok simp than sehr gut supe perf ausg toll klas einf "
        "dank",
    ),
    _rule(
        "stop-and-switch",
        0.45,
        r"\b(?:attention|achtung|important|wichtig)\W+(?:stop|stopp|halt)\b|"
        r"(?:^|[.!?]\s)(?:stop|halt|stopp|ende|end)[.!,:]+\s+(?:now |jetzt |nun )?(?:you|your|"
        r"new|instead|du|deine|neue|stattdessen)\b|\b(?:now|jetzt|nun) (?:you are|your task|ist "
        r"deine aufgabe|bist du|lautet deine aufgabe)\b",
        "stop halt ende end now jetz nun atte acht impo wich",
        # also required: stop or now, and to whom
        "stop halt ende end now jetzt nun",
        "attention achtung important wichtig you your new instead du deine neue stattdessen bist",
    ),
)


def fired(text: str) -> list[Rule]:
    """The rules that fire on a normalised text."""
    return [rule for rule in RULES if rule.pattern.search(text)]


def combine(weights: list[float]) -> float:
    """Noisy-or: the probability that at least one signal is right."""
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return 1.0 - remaining
