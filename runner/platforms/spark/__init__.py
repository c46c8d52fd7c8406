"""The ``spark`` platform: recipes run on a Spark cluster over Spark Connect (``sc://``).

Needs the ``publish-runner[spark]`` extra (the Spark Connect client); the core install
has no Java and no Spark.
"""
