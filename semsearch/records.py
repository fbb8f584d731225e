"""The typed records passed between stages: an action (one fiche) and the chunks cut from it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Facet name -> Action attribute. One table so filters, facets, the CLI and the API agree.
FACETS: dict[str, str] = {
    "dimension": "dimension",
    "keyword": "keywords",
    "public": "public",
    "territory": "territory",
    "status": "status",
    "structure": "structure",
    "department": "department",
    "partner": "partners",
}


@dataclass
class Evaluation:
    """The fiche's self-evaluation ("AUTO-EVALUATION DE L'ACTION")."""

    territory: str = ""  # Résultat sur le territoire
    centre: str = ""  # Résultat pour le centre social
    residents: str = ""  # Résultat pour les habitants
    limits: str = ""  # Suite de l'action : Limites
    perspectives: str = ""  # Suite de l'action : Perspectives


@dataclass
class Action:
    """One fiche action, with the export's French labels mapped to English attributes once."""

    id: str
    title: str
    status: str = ""  # Statut de l'action: "En cours" / "Terminée"
    end_reasons: str = ""  # Raisons pour lesquelles l'action est terminée
    dimension: str = ""
    keywords: list[str] = field(default_factory=list)
    summary: str = ""  # Résumé
    structure: str = ""  # Structure organisatrice, without the department
    department: str = ""
    initiative: list[str] = field(default_factory=list)  # Qui est à l'initiative de l'action ?
    initiative_detail: str = ""  # Précision ( si autre )
    experience: str = ""  # Description de l'expérience, ses objectifs, ses acteurs...
    territory: str = ""  # Territoire concerné
    public: str = ""
    partners: list[str] = field(default_factory=list)  # Partenaires d'action
    description: str = ""  # Description générale
    budget: str = ""  # Ressources financières mobilisées pour cette action
    people: str = ""  # Nombre de personnes mobilisés pour cette action
    evaluation: Evaluation = field(default_factory=Evaluation)
    files: list[str] = field(default_factory=list)  # Fichier(s) associé(s)
    extra: dict[str, str] = field(default_factory=dict)  # unknown labels, kept verbatim

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form; by hand rather than dataclasses.asdict, which deep-copies every value and
        took 2 s of a 10 000-action reindex (the analysis keys hash this form)."""
        out = {f.name: getattr(self, f.name) for f in _ACTION_FIELDS}
        out["evaluation"] = {f.name: getattr(self.evaluation, f.name) for f in _EVALUATION_FIELDS}
        out["keywords"], out["initiative"], out["partners"], out["files"] = (
            list(self.keywords), list(self.initiative), list(self.partners), list(self.files))
        out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Action:
        """Build from the canonical JSON form; unknown keys are an error so typos in exports surface."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"champ(s) inconnu(s) {sorted(unknown)}")
        values = dict(data)
        values["evaluation"] = Evaluation(**(values.get("evaluation") or {}))
        return cls(**values)

    def facet_values(self, facet: str) -> list[str]:
        """Values of one facet as a list, whether the attribute is a list or a single string."""
        value = getattr(self, FACETS[facet])
        if isinstance(value, list):
            return [v for v in value if v]
        return [value] if value else []


_ACTION_FIELDS, _EVALUATION_FIELDS = fields(Action), fields(Evaluation)


@dataclass(frozen=True)
class Chunk:
    """A passage of one section of one action: the unit that is embedded and shown as evidence."""

    action_id: str
    section: str  # key of SECTIONS in semsearch.chunking
    position: int  # order of the chunk within the section
    text: str
