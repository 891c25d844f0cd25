"""Pure rendering: a Result (or a live frame, a sweep) to mimebundles, the markdown
renderer that keeps model output inert, the style, the live view's model. Nothing
here displays anything: the notebook side does."""
