"""omni_bench_widgets: the notebook views of omni_bench (ipywidgets + matplotlib, no pyplot).

One contract for every factory (as in hyperspy_gui_ipywidgets)::

    show_x(obj, *, display=True)   # displays the root widget and returns it
    show_x(obj, *, display=False)  # returns {"widget": root, "controls": {...}, "view": view}

so tests drive a view headlessly: ``ui = show_layout(layout, meta=info, display=False)``,
``ui["controls"]["frames"].value = 32``, then assert on ``ui["view"].layout`` or
``ui["view"].summary()``. Every view has a text twin (``render_*_text``, ``view.text()``),
and the root's plain-text form is the view's one-line summary.

* :func:`show_layout` - token-layout inspector (minimap and zoomed strip by kind and role, the
  clip's frames and audio under their tokens - waveform or the processor's log-mel
  ``input_features`` (:func:`processor_log_mel`) -, the verdict banner, selection table, live
  re-planning, ``view.save("x.html")``); text twin :func:`render_layout_text`.
* :func:`draw_layouts` - several layouts of one clip side by side (one strip per model); text
  twin :func:`render_layouts_text`.
* :func:`run_images` / :func:`run_figures` - a training run's curves for ``omni-bench report RUN_DIR --html
  FILE`` (``omni_bench.write_run_report(..., figures=run_figures)``); :func:`plot_metrics` - them as
  PNG files in the run folder (``omni_bench.train(config, plot=plot_metrics)``).
* :func:`show_labels` - label-mask viewer; text twin :func:`render_labels_text`.
* :func:`show_dashboard` - training curves from ``metrics.jsonl``; text twin
  :func:`render_dashboard_text`.
* :func:`draw_timeline` / :func:`draw_timeline_pair` - VIDEO/AUDIO chunks in real time
  (text twin ``str(alignment)``); :func:`draw_samplers` - frame samplers compared;
  :func:`draw_sampler_thumbnails` - their frames (text twin :func:`thumbnail_picks`).
* :func:`show_eval` - a grounding evaluation: per-query table, IoU histogram, true and predicted
  spans on each video's timeline; text twins :func:`render_grounding_table_text`,
  :func:`render_iou_histogram_text`, :func:`render_span_timelines_text`.
* :func:`draw_grpo_group` - a GRPO run's G rollouts of one prompt on the video's timeline against the
  true span(s), with rewards and advantages; text twin :func:`omni_bench.render_group_text`.

Every ``draw_*`` returns a :class:`Picture` (a pyplot-free ``matplotlib.figure.Figure``; a view
drawn on one Axes returns that Axes) that a notebook shows as a picture (``image/png``), and a
displayed view shows once, even when a cell ends with its factory's call.

Importing this package is light; each view module (and ipywidgets, matplotlib) loads on
first use. ``import omni_bench`` never imports this package.
"""

from __future__ import annotations

from omni_bench._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "show_layout": "inspector", "render_layout_text": "layout_text", "render_selection_text": "layout_text",
    "draw_layout": "inspector", "draw_layouts": "layout_figure", "render_layouts_text": "layout_figure",
    "token_rows": "layout_text", "clock_of": "layout_text", "Clock": "layout_text",
    "InspectorView": "inspector", "MediaCache": "media_strip", "selection_media": "media_strip",
    "save_report": "report", "run_images": "report", "run_figures": "report", "processor_log_mel": "log_mel",
    "show_labels": "labels", "render_labels_text": "labels", "label_pieces": "labels", "LabelsView": "labels",
    "show_dashboard": "dashboard", "render_dashboard_text": "dashboard",
    "draw_metrics": "dashboard", "Dashboard": "dashboard", "plot_metrics": "plots",
    "png_bytes": "picture", "Picture": "picture",
    "draw_timeline": "timeline", "draw_timeline_pair": "timeline",
    "draw_samplers": "samplers", "draw_sampler_thumbnails": "samplers", "thumbnail_picks": "samplers",
    "show_eval": "eval_views", "EvalView": "eval_views", "grounding_rows": "eval_views",
    "render_grounding_table_text": "eval_views", "draw_iou_histogram": "eval_views",
    "render_iou_histogram_text": "eval_views", "draw_span_timelines": "eval_views",
    "render_span_timelines_text": "eval_views",
    "draw_grpo_group": "grpo_group", "grpo_group": "grpo_group",
}

__all__ = [
    "Clock", "Dashboard", "InspectorView", "LabelsView", "MediaCache", "save_report", "selection_media",
    "clock_of", "draw_layout", "draw_layouts", "render_layouts_text", "draw_metrics",
    "draw_sampler_thumbnails", "draw_samplers", "draw_timeline", "draw_timeline_pair", "label_pieces", "plot_metrics",
    "Picture", "png_bytes", "render_dashboard_text", "render_labels_text", "render_layout_text",
    "render_selection_text", "show_dashboard", "show_labels", "show_layout", "thumbnail_picks", "token_rows",
    "show_eval", "EvalView", "grounding_rows", "render_grounding_table_text", "draw_iou_histogram",
    "render_iou_histogram_text", "draw_span_timelines", "render_span_timelines_text",
    "run_images", "run_figures", "processor_log_mel", "draw_grpo_group", "grpo_group",
    "__version__",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
