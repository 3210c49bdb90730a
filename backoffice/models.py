"""The project package has no tables; this module exists so that ``post_migrate`` runs its set-up."""
