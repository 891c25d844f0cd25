"""The browser harness itself: JupyterLab renders what the product will rely on.

Not a product test: it proves the fixtures and helpers work (and shows how to
use them) with plain IPython displays: text, ``<details>``, MathJax, ipywidgets.
"""

from __future__ import annotations

import re
from textwrap import dedent

from playwright.sync_api import Page, expect

from .jupyter import (
    JupyterLab,
    cell_outputs,
    code_cells,
    execution_counts,
    interrupt_kernel,
    nudge_slider,
    open_notebook,
    run_all,
    screenshot,
    set_slider,
    slider,
    slider_value,
    wait_cells_done,
    wait_kernel_idle,
)

SMOKE_CELLS = [
    # 0: plain text; the server's environment reaches the kernel, and so does the emulator
    dedent("""\
        import json, os, urllib.request
        print('hello from the kernel, marker =', os.environ['DEEPSEEK_MAGIC_BROWSER_TEST'])
        with urllib.request.urlopen(os.environ['DEEPSEEK_MAGIC_BASE_URL'] + '/models') as r:
            print('emulator serves', json.load(r)['data'][0]['id'])
        print('inherited keys:', sorted(k for k in os.environ if k.endswith('_API_KEY')))
    """),
    # 1: a closed <details>
    dedent("""\
        from IPython.display import HTML, display
        display(HTML('<details><summary>S</summary>hidden body</details>'))
    """),
    # 2: TeX in an HTML output, typeset by MathJax
    r"display(HTML(r'<p>area: \(x^2\)</p>'))",
    # 3: an ipywidgets slider whose value makes a round trip through the kernel
    dedent("""\
        import ipywidgets as widgets
        s = widgets.IntSlider(description='temperature', min=0, max=20)
        seen = widgets.Label('kernel sees 0')
        s.observe(lambda change: setattr(seen, 'value', f"kernel sees {change['new']}"), 'value')
        display(widgets.VBox([s, seen]))
    """),
]


def test_notebook_renders_text_details_math_and_widgets(
    page: Page, lab: JupyterLab, notebook_name: str
) -> None:
    lab.write_notebook(notebook_name, SMOKE_CELLS)
    open_notebook(page, lab, notebook_name)
    run_all(page)
    counts = wait_cells_done(page, timeout=60_000)
    assert len(counts) == len(SMOKE_CELLS)

    expect(cell_outputs(page, 0)).to_contain_text("hello from the kernel, marker = 1")
    expect(cell_outputs(page, 0)).to_contain_text("emulator serves deepseek/deepseek-r1")
    expect(cell_outputs(page, 0)).to_contain_text(
        "inherited keys: []"
    )  # a developer's are scrubbed

    details = cell_outputs(page, 1).locator("details")
    expect(details).to_have_count(1)
    # "hidden body" is a bare text node of <details>: get_by_text() would resolve
    # to the <details> itself, which is visible. inner_text() is what is rendered.
    expect(details).to_have_js_property("open", False)
    assert details.inner_text().strip() == "S"
    details.locator("summary").click()
    expect(details).to_have_js_property("open", True)
    assert "hidden body" in details.inner_text()

    math = cell_outputs(page, 2).locator("mjx-container")
    expect(math).to_have_count(1)
    expect(math.first).to_be_visible()
    expect(cell_outputs(page, 2)).not_to_contain_text(r"\(x^2\)")

    out = cell_outputs(page, 3)
    temperature = slider(page, "temperature", within=out)
    expect(temperature).to_be_visible()
    expect(out.locator(".jupyter-widgets.widget-slider")).to_have_count(1)
    set_slider(page, "temperature", 7, within=out)
    expect(out.get_by_text("kernel sees 7")).to_be_visible()
    nudge_slider(page, "temperature", 2, within=out)
    expect(out.get_by_text("kernel sees 9")).to_be_visible()
    assert slider_value(page, "temperature", within=out) == "9"
    set_slider(page, "temperature", 5, within=out)  # replaces "9", does not append to it
    expect(out.get_by_text("kernel sees 5")).to_be_visible()
    set_slider(page, "temperature", 99, within=out)  # clamped to max by the widget
    expect(out.get_by_text("kernel sees 20")).to_be_visible()

    shot = screenshot(page, "smoke")
    assert shot.stat().st_size > 10_000


def test_run_all_through_menu_and_palette(page: Page, lab: JupyterLab, notebook_name: str) -> None:
    lab.write_notebook(notebook_name, ["x = 1", "print('x is', x)"])
    open_notebook(page, lab, notebook_name)

    run_all(page, via="menu")
    first = wait_cells_done(page, timeout=30_000)
    expect(cell_outputs(page, 1)).to_have_text("x is 1")

    run_all(page, via="palette")
    second = wait_cells_done(page, timeout=30_000, after=max(first))
    assert min(second) > max(first)
    assert execution_counts(page) == second


def test_interrupt_kernel(page: Page, lab: JupyterLab, notebook_name: str) -> None:
    lab.write_notebook(notebook_name, ["import time\ntime.sleep(120)", "print('not reached')"])
    open_notebook(page, lab, notebook_name)
    run_all(page)
    prompt = code_cells(page).nth(0).locator(".jp-InputArea-prompt")
    expect(prompt).to_have_text(re.compile(r"\[\*\]"))
    expect(page.locator(".jp-StatusBar-TextItem", has_text="| Busy")).to_be_visible()

    interrupt_kernel(page)

    expect(cell_outputs(page, 0)).to_contain_text("KeyboardInterrupt")
    expect(prompt).to_have_text(re.compile(r"\[\d+\]"))
    wait_kernel_idle(page)
    expect(cell_outputs(page, 1)).not_to_contain_text("not reached")
