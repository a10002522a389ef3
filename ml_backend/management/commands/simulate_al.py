from __future__ import annotations

import json
import logging
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelapp.errors import DomainError
from labelapp.services.projects import project_resolve
from ml_backend.simulation import (
    BASELINE,
    SELECTABLE,
    SimulationConfig,
    plot_learning_curves,
    simulate,
)


class Command(BaseCommand):
    help = (
        "Simulate active learning on a labeled pool: for each strategy and repeat, a throwaway "
        "copy of PROJECT imports the manifest's audio without labels, an oracle answers the "
        "queue's next clips with the manifest's labels, the model is retrained and the pool "
        "re-ranked after every batch, and the active model is scored on the test manifest. "
        "Runs in this process (Celery tasks eager, no broker, no worker needed). Writes "
        "DIR/learning_curves.json and .png and stores the curves on PROJECT's model page. "
        f"The '{BASELINE}' baseline is always included."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name (its ontology and label mode)")
        parser.add_argument("--manifest", required=True, help="CSV pool: audio, labels")
        parser.add_argument("--test-manifest", required=True, help="CSV test set: audio, labels")
        parser.add_argument(
            "--strategy",
            action="append",
            choices=SELECTABLE,
            dest="strategies",
            help="strategy to compare (repeatable; default: hybrid)",
        )
        parser.add_argument(
            "--seed-size",
            type=int,
            default=50,
            help="labels of the first round (default %(default)s)",
        )
        parser.add_argument(
            "--batch", type=int, default=50, help="labels per later round (default %(default)s)"
        )
        parser.add_argument(
            "--growth",
            type=float,
            default=0.0,
            help="later rounds label this share of the labels so far when that is more than "
            "--batch (e.g. 0.25; default %(default)s)",
        )
        parser.add_argument(
            "--budget", type=int, default=400, help="labels in all (default %(default)s)"
        )
        parser.add_argument(
            "--repeats", type=int, default=3, help="runs per strategy (default %(default)s)"
        )
        parser.add_argument(
            "--first-repeat",
            type=int,
            default=0,
            help="number the runs from here (each number is one import order): --first-repeat 3 "
            "--repeats 3 makes runs 3-5, new beside an earlier simulation's 0-2; its curves "
            "replace the stored ones, and benchmarks/active_learning.py --combine joins both "
            "files",
        )
        parser.add_argument(
            "--test-in-project",
            action="store_true",
            help="the test clips join the simulated project unlabeled, like recordings waiting "
            "to be pre-labeled: training adapts to them; the oracle skips them (never answered "
            "nor picked)",
        )
        parser.add_argument("--out", required=True, help="folder for the JSON and the PNG")
        parser.add_argument(
            "--keep", action="store_true", help="keep the simulation projects instead of deleting"
        )

    def handle(self, *args, **opts):
        if opts["verbosity"] < 2:
            # Its tasks run in this process: a line per task ("Task ... succeeded in 0.01s")
            # buried the progress lines.
            logging.getLogger("celery").setLevel(logging.WARNING)
        out = Path(opts["out"])
        if out.exists() and not out.is_dir():  # known before an hour of simulation, not after
            raise CommandError(f"--out {out}: a file is there; name a folder")
        try:
            project = project_resolve(opts["project"])
            config = SimulationConfig(
                strategies=opts["strategies"] or ["hybrid"],
                seed_size=opts["seed_size"],
                batch=opts["batch"],
                budget=opts["budget"],
                repeats=opts["repeats"],
                first_repeat=opts["first_repeat"],
                growth=opts["growth"],
                keep=opts["keep"],
                test_in_project=opts["test_in_project"],
            )
            _writable(out)
            self.stdout.write(
                f"simulating {', '.join(config.strategies)} on {project.name!r}: "
                + ("1 run" if config.repeats == 1 else f"{config.repeats} runs")
                + f", {config.seed_size} + {config.batch}/round "
                f"up to {config.budget} labels"
            )
            result = simulate(
                project=project,
                manifest=Path(opts["manifest"]),
                test_manifest=Path(opts["test_manifest"]),
                config=config,
                progress=lambda line: self.stdout.write(line),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        out.mkdir(parents=True, exist_ok=True)
        (out / "learning_curves.json").write_text(json.dumps(result, indent=1))
        plot_learning_curves(result, out / "learning_curves.png")
        for name, data in result["strategies"].items():
            last = data["mean"][-1] if data["mean"] else {}
            self.stdout.write(
                f"{name:>16}: {last.get('labels', 0)} labels -> accuracy "
                f"{last.get('accuracy')} macro-F1 {last.get('macro_f1')}"
            )
        self.stdout.write(f"wrote {out / 'learning_curves.json'} and learning_curves.png")


def _writable(out: Path) -> None:
    """--out made and written to before the simulation: /proc/sim0 failed only after every
    round had run, and the curves' files were lost."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".earmark-write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CommandError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
