"""Building blocks every stage uses: configuration, data, prompt rendering, models, artifacts."""
