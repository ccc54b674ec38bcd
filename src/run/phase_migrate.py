# Run by `migrail run --phase pre|post` as `python manage.py shell -c <this>`: apply only
# the migrations of one deploy phase, against the database's real state. migrail fills in
# PHASE and PHASES (the migrations that must wait for the rollout, or must never run as
# they are); every other migration may run before the rollout.
import sys

from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

PHASE = "pre"
PHASES = {}


def name(key):
    return "%s.%s" % key


def migrail_phase():
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    graph = executor.loader.graph
    applied = set(executor.loader.applied_migrations)
    unknown = sorted(m for m in applied if m not in graph.nodes)
    if unknown:
        print(
            "migrail: refusing to migrate: the database has migrations this release does not "
            "have (it is ahead of or diverged from this code): %s" % ", ".join(map(name, unknown)),
            file=sys.stderr,
        )
        return 4
    pending = [(m.app_label, m.name) for m, backwards in executor.migration_plan(graph.leaf_nodes())]
    runnable, left = [], []
    for key in pending:
        phase = PHASES.get(key, "pre")
        allowed = phase in ("pre", "any") if PHASE == "pre" else phase != "never"
        parents = [p.key for p in graph.node_map[key].parents]
        if allowed and all(p in applied or p in runnable for p in parents):
            runnable.append(key)
        else:
            left.append((key, phase))
    targets = {}
    for key in runnable:
        targets[key[0]] = key
    plan = executor.migration_plan(list(targets.values()))
    backwards = [(m.app_label, m.name) for m, b in plan if b]
    if backwards:
        print(
            "migrail: refusing to migrate: it would unapply %s (the database is ahead of the "
            "plan)" % ", ".join(map(name, backwards)),
            file=sys.stderr,
        )
        return 4
    if not runnable:
        print("migrail: phase %s: no migration to apply" % PHASE)
    else:
        print("migrail: phase %s: applying %s" % (PHASE, ", ".join(map(name, runnable))))
        for app, target in targets.values():
            call_command("migrate", app, target, interactive=False, verbosity=1)
    for key, phase in left:
        why = "after the rollout" if phase == "post" else "blocked (%s)" % phase
        print("migrail: not applied in phase %s: %s, %s" % (PHASE, name(key), why))
    blocked = [key for key, phase in left if PHASE == "post" or phase == "never"]
    if PHASE == "post" and blocked:
        print(
            "migrail: %d migration(s) cannot run in any phase: fix the lint errors"
            % len(blocked),
            file=sys.stderr,
        )
        return 3
    return 0


sys.exit(migrail_phase())
