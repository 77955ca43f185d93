"""The reports as a site: navigation, rendering an executed notebook to its page, the index,
the other pages, publishing, and the check in a real browser. Every page's HTML comes from the
Jinja templates of ``templates/`` (:mod:`mnist_lib.website.templates`).

Notebooks never import this package, so run keys leave its source out: a change here
re-renders pages and reruns no notebook.
"""
