# The models live in the migrations: this app exists for `migrail sql` against sqlmigrate.
