"""The site-packages built-in corpus: every installed .py file, hashed like stdlib."""

from llm_jax.data.sources import load_corpus, site_packages_files


def test_site_packages_lists_installed_python_files():
    files = dict(site_packages_files())
    assert "numpy/__init__.py" in files and "jax/__init__.py" in files
    assert all(name.endswith(".py") for name in files)
    assert list(files) == sorted(files)  # a stable order, so the hash is stable


def test_site_packages_corpus_is_hashed_and_capped():
    first = load_corpus("site-packages", max_bytes=300_000)
    again = load_corpus("site-packages", max_bytes=300_000)
    assert first.hash == again.hash and first.documents == again.documents
    assert first.hash != load_corpus("stdlib", max_bytes=300_000).hash
    assert 0 < first.n_bytes <= 300_000
    assert len(first.documents) > 1  # one document per file
