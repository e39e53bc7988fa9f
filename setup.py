"""Installs the coarse-ranking package; versions are pinned by constraints.txt."""

import setuptools

setuptools.setup(
    name="coarse-rank",
    version="0.1.0",
    description="Coarse ranker for e-commerce search as a TFX pipeline.",
    packages=setuptools.find_packages(
        include=["models", "models.*", "components", "components.*",
                 "tfx_pipeline", "tfx_pipeline.*", "serving", "serving.*",
                 "testing"]),
    package_data={"models": ["*.pbtxt"]},
    python_requires=">=3.11,<3.12",
    install_requires=[
        "tfx==1.16.0",
        "apache-beam[gcp]==2.59.0",
        "tensorflow-recommenders==0.7.7",
        "tf-keras~=2.16.0",
        "tensorflow-serving-api~=2.16.0",
        "kfp>=2,<2.8",
        "kfp-pipeline-spec>=0.2.2",
        "numpy",
        "pyarrow",
        "pandas",
        "matplotlib",
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "scipy"]},
    entry_points={"console_scripts": ["coarse-rank=tfx_pipeline.cli:main"]},
)
