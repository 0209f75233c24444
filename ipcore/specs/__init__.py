"""The facts at the bottom of ipcore: what each rule, activation and dataset *is*, without loading torch.

Configs validate names and ranges against these tables, the CLI's help and the app's pickers list them, and the
engine builds its classes from them. Nothing here imports another ipcore package except ``ipcore.errors``.
"""
