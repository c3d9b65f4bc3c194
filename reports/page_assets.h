// The inline stylesheet and script of the HTML report. They are inlined (not
// linked) so a report is one file that renders offline, e.g. from a CI artifact.
#pragma once

#include <string_view>

namespace attnbench::reports {

/// Stylesheet for screen (laptop width) and print (@media print).
inline constexpr std::string_view kReportCss = R"css(
:root{--fg:#1f2933;--muted:#616e7c;--line:#d9e2ec;--head:#f0f4f8;--accent:#2f5d8a;
--ok:#1f7a4d;--okbg:#e3f6ec;--bad:#b42318;--badbg:#fef3f2;--warn:#b54708;--warnbg:#fffaeb;
--na:#7b8794;--nabg:#f0f2f5}
*{box-sizing:border-box}
html{background:#eef1f5}
body{margin:0;color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1280px;margin:0 auto;padding:28px 32px 40px;background:#fff;min-height:100vh}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12px}
header.page{border-bottom:2px solid var(--accent);padding-bottom:12px;margin-bottom:8px}
header.page h1{font-size:23px;margin:0 0 4px;letter-spacing:-.01em}
header.page .sub{color:var(--muted)}
h2{font-size:17px;margin:30px 0 10px;padding-bottom:5px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:18px 0 8px;color:var(--muted);font-weight:600}
nav.toc{font-size:13px;margin:10px 0 0;color:var(--muted)}
nav.toc a{color:var(--accent);text-decoration:none;margin-right:14px}
nav.toc a:hover{text-decoration:underline}
.banner{margin:14px 0;padding:9px 12px;border-radius:6px;border:1px solid #f5c27a;background:var(--warnbg);color:#7a3e00}
.banner.bad{border-color:#f3a6a0;background:var(--badbg);color:#7a1a12}
dl.prov{display:grid;grid-template-columns:max-content minmax(0,1fr) max-content minmax(0,1fr);gap:5px 18px;margin:0;font-size:13px}
dl.prov dt{color:var(--muted);white-space:nowrap}
dl.prov dd{margin:0;overflow-wrap:anywhere}
dl.prov dd.wide{grid-column:2 / span 3}
.none{color:#9aa5b1}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:11.5px;font-weight:600;line-height:18px;white-space:nowrap;background:var(--nabg);color:var(--na)}
.st-ok.badge,.chip.st-ok{background:var(--okbg);color:var(--ok)}
.st-failed.badge,.st-error.badge,.chip.st-failed,.chip.st-error{background:var(--badbg);color:var(--bad)}
.st-oom.badge,.chip.st-oom{background:var(--warnbg);color:var(--warn)}
.badge.run-complete{background:var(--okbg);color:var(--ok)}
.badge.run-failed{background:var(--badbg);color:var(--bad)}
.badge.run-incomplete{background:var(--warnbg);color:var(--warn)}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0 10px}
.chip{padding:2px 10px;border-radius:12px;font-size:12.5px;background:var(--nabg);color:var(--na);font-weight:600}
.chip b{font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{padding:5px 7px;border-bottom:1px solid var(--line);vertical-align:top;text-align:left}
thead th{position:sticky;top:0;z-index:1;background:var(--head);font-weight:600;color:#323f4b;vertical-align:bottom;line-height:1.25;user-select:none}
table.sortable thead th{cursor:pointer}
table.sortable thead th:hover{background:#e4eaf1}
th[aria-sort=ascending]::after{content:" \25B4";color:var(--accent)}
th[aria-sort=descending]::after{content:" \25BE";color:var(--accent)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even) td{background:#fafbfc}
tbody tr:hover td{background:#f1f5fa}
tr.st-failed td,tr.st-error td{background:var(--badbg)!important}
tr.st-failed td:first-child,tr.st-error td:first-child{box-shadow:inset 3px 0 0 var(--bad)}
tr.st-oom td{background:var(--warnbg)!important}
tr.st-oom td:first-child{box-shadow:inset 3px 0 0 var(--warn)}
tr.st-unsupported td,tr.st-no_device td{color:var(--na)}
td.cfg{overflow-wrap:break-word;min-width:9em}
td.shape{overflow-wrap:break-word;min-width:8em;color:#3e4c59}
td .dev{color:var(--muted);font-size:11.5px}
td .rel{color:var(--muted)}
td.status{white-space:nowrap}
.msg{font-size:12px;color:var(--bad);white-space:pre-wrap;overflow-wrap:anywhere}
div.msg{margin-top:3px;font-size:11.5px;white-space:normal}
td.msg{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:11.5px}
tr.st-unsupported .msg,tr.st-no_device .msg{color:var(--na)}
td.other{font-size:11.5px;min-width:9em}
td.other div{white-space:nowrap}
td.other .mname{color:var(--muted)}
td.other i{color:var(--muted);font-style:normal}
td.bad{color:var(--bad);font-weight:600}
table.peaks{width:auto;min-width:50%}
table.summary{width:auto;min-width:60%}
figure.chart{margin:8px 0 16px;padding:8px 0;border:1px solid var(--line);border-radius:6px;text-align:center}
figure.chart svg{max-width:100%;height:auto}
p.note{color:var(--muted);font-size:12.5px;margin:4px 0 10px;max-width:80em}
td div.note{color:var(--muted);font-size:11.5px;white-space:normal}
.heatmaps{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:10px;margin:6px 0 14px}
.heatmaps figure.chart{margin:0}
figure.chart.small{max-width:600px}
.small-multiples{display:flex;flex-wrap:wrap;gap:0 16px}
.approx-group{margin:14px 0 22px}
table.efficiency-lengths{width:auto;min-width:50%}
table.pareto,table.backends{width:auto;min-width:60%}
tr.front td:first-child{box-shadow:inset 3px 0 0 var(--ok)}
tr.dominated td{color:#52606d}
td.best{font-weight:700;color:var(--ok)}
td.ratio.lower{color:var(--ok)}
td.ratio.higher{color:var(--bad)}
td.verdict.reproduced{color:var(--ok);font-weight:600}td.verdict.not-reproduced{color:var(--bad);font-weight:600}
.chip.v-faster,.badge.v-faster{background:var(--okbg);color:var(--ok)}
.chip.v-slower,.badge.v-slower{background:var(--badbg);color:var(--bad)}
.badge.v-same,.badge.v-untimed{background:var(--nabg);color:#52606d}
details.unchanged{margin:10px 0}
details.unchanged summary{cursor:pointer;color:var(--accent);font-size:13px;margin-bottom:6px}
table.comparison td.cfg{min-width:8em}
tr.v-faster td:first-child{box-shadow:inset 3px 0 0 var(--ok)}
tr.v-slower td{background:var(--badbg)!important}
tr.v-slower td:first-child{box-shadow:inset 3px 0 0 var(--bad)}
.q-worse{color:var(--bad);font-weight:600}
.q-better{color:var(--ok)}
.cibar{position:relative;width:110px;height:14px;background:#f0f2f5;border-radius:3px;margin-top:2px}
.cibar .one{position:absolute;left:50%;top:0;bottom:0;border-left:1px dashed #7b8794}
.cibar .ci{position:absolute;top:4px;height:6px;border-radius:3px;background:#9aa5b1}
.cibar .pt{position:absolute;top:1px;width:3px;height:12px;margin-left:-1.5px;background:#3e4c59}
.cibar .ci.v-faster{background:#7bc8a0}.cibar .pt.v-faster{background:var(--ok)}
.cibar .ci.v-slower{background:#f3a6a0}.cibar .pt.v-slower{background:var(--bad)}
#answers{border:1px solid var(--line);border-radius:8px;padding:4px 18px 12px;margin:14px 0;background:#fbfcfe}
#answers h2{margin-top:12px}
#answers table{width:auto;min-width:50%}
p.answer,ul.answer{font-size:14px;margin:6px 0 10px;max-width:80em}
ul.answer{padding-left:20px}
.answer.bad{color:var(--bad);font-weight:600}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.table-tools{display:flex;align-items:center;gap:8px;margin:6px 0 4px;font-size:12px;color:var(--muted)}
.table-tools input{font:inherit;padding:2px 6px;border:1px solid var(--line);border-radius:4px;width:16em}
.table-tools button{font:inherit;padding:2px 8px;border:1px solid var(--line);border-radius:4px;background:var(--head);color:var(--fg);cursor:pointer;margin-left:auto}
svg.chart g.legend{cursor:pointer}
svg.chart g.legend-off{opacity:.35}
svg.chart g.series-hidden{display:none}
footer{margin-top:36px;padding-top:10px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
@media (max-width:900px){dl.prov{grid-template-columns:max-content minmax(0,1fr)}dl.prov dd.wide{grid-column:auto}main{padding:16px}}
@media print{
  @page{size:A4 landscape;margin:12mm}
  html,main{background:#fff}
  main{max-width:none;padding:0;min-height:0}
  body{font-size:10.5px}
  nav.toc,.table-tools{display:none}
  thead th{position:static}
  thead{display:table-header-group}
  table{font-size:9.5px}
  th,td{padding:3px 5px}
  tr,figure.chart,dl.prov{break-inside:avoid}
  tbody tr:nth-child(even) td,tbody tr:hover td{background:none}
  tr.st-failed td,tr.st-error td,tr.st-oom td,tr.v-slower td,.badge,.chip,.cibar,.cibar span{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  .heatmaps{grid-template-columns:1fr 1fr}
  details.unchanged{display:none}
  .heatmaps figure.chart,#recall figure.chart{break-inside:avoid}
  section.suite{break-before:page}
  h2,h3{break-after:avoid}
}
)css";

/// The page script, plain JS with no network access. Every table of the page gets a
/// toolbar (a filter box that hides rows not containing every typed word, a row count
/// and a "Copy as CSV" button for the visible rows), sorting by a click (or Enter) on a
/// column header (empty cells, and cells that hold only a dash, last; data-sort holds a
/// raw value where the text is formatted) and right-aligned columns where every cell is a number. A click (or
/// Enter) on a chart legend entry hides or shows its series. Sets data-ready="1" at the end.
inline constexpr std::string_view kSortScript = R"js(
(function(){
  var each=function(list,f){Array.prototype.forEach.call(list,f);};
  function key(row,i){var c=row.cells[i];if(!c)return '';var v=c.getAttribute('data-sort');if(v!==null)return v;v=c.textContent.trim();return v==='\u2014'?'':v;}
  function isNum(s){return s!==''&&isFinite(Number(s));}
  // "1.80 ms", "25.0%", "3.00x", "2K", "-": a number a reader compares by magnitude.
  var numLike=/^(?:[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?\s*(?:%|\u00d7|[kKMGT]?[A-Za-z\u00b5/]{0,7})?|\u2014|-)$/;
  function headRow(table){return table.tHead&&table.tHead.rows.length===1?table.tHead.rows[0]:null;}
  function makeSortable(table){
    var head=headRow(table);if(!head||!table.tBodies[0])return;
    table.classList.add('sortable');
    var heads=head.cells;
    each(heads,function(th,i){
      th.tabIndex=0;
      function sort(){
        var asc=th.getAttribute('aria-sort')!=='ascending';
        each(heads,function(h){h.removeAttribute('aria-sort');});
        th.setAttribute('aria-sort',asc?'ascending':'descending');
        var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        var numeric=rows.every(function(r){var k=key(r,i);return k===''||isNum(k);});
        rows.sort(function(a,b){
          var x=key(a,i),y=key(b,i);
          if(x===''||y==='')return (x==='')-(y==='');
          var d=numeric?Number(x)-Number(y):x.localeCompare(y,undefined,{numeric:true});
          return asc?d:-d;
        });
        rows.forEach(function(r){body.appendChild(r);});
      }
      th.addEventListener('click',sort);
      th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sort();}});
    });
  }
  function alignNumbers(table){
    var head=headRow(table);if(!head||!table.tBodies[0])return;
    var rows=table.tBodies[0].rows;if(!rows.length)return;
    each(head.cells,function(th,i){
      var seen=0,ok=true;
      each(rows,function(r){if(!ok||r.cells.length!==head.cells.length)return;var t=r.cells[i].textContent.trim();if(t==='')return;if(numLike.test(t)){seen+=t!=='\u2014'&&t!=='-';}else ok=false;});
      if(!ok||!seen)return;
      th.classList.add('num');
      each(rows,function(r){if(r.cells.length===head.cells.length)r.cells[i].classList.add('num');});
    });
  }
  function csvField(s){s=s.replace(/\s+/g,' ').trim();return /[",\n]/.test(s)?'"'+s.replace(/"/g,'""')+'"':s;}
  function visibleRows(table){return Array.prototype.filter.call(table.tBodies[0]?table.tBodies[0].rows:[],function(r){return !r.hidden;});}
  // The visible rows as CSV, header first (used by the button; a test may call it too).
  function tableCsv(table){
    var lines=[],head=headRow(table);
    if(head)lines.push(Array.prototype.map.call(head.cells,function(c){return csvField(c.textContent);}).join(','));
    visibleRows(table).forEach(function(r){lines.push(Array.prototype.map.call(r.cells,function(c){return csvField(c.textContent);}).join(','));});
    return lines.join('\n')+'\n';
  }
  window.attnbenchTableCsv=tableCsv;
  function copyText(text){
    function fallback(){var t=document.createElement('textarea');t.value=text;t.style.position='fixed';t.style.opacity='0';document.body.appendChild(t);t.select();try{document.execCommand('copy');}catch(e){}document.body.removeChild(t);}
    // The clipboard API may be refused (file:// pages, no permission): fall back quietly.
    if(navigator.clipboard&&navigator.clipboard.writeText)navigator.clipboard.writeText(text).catch(fallback);else fallback();
  }
  function addTools(table){
    if(!table.tBodies[0])return;
    var bar=document.createElement('div');bar.className='table-tools';
    var input=document.createElement('input');input.type='search';input.className='table-filter';input.placeholder='Filter rows\u2026';input.setAttribute('aria-label','Filter the rows of this table');
    var count=document.createElement('span');count.className='filter-count';
    var button=document.createElement('button');button.type='button';button.className='copy-csv';button.textContent='Copy as CSV';
    bar.appendChild(input);bar.appendChild(count);bar.appendChild(button);
    table.parentNode.insertBefore(bar,table);
    var rows=table.tBodies[0].rows;
    function filter(){
      var words=input.value.toLowerCase().split(/\s+/).filter(Boolean),shown=0;
      each(rows,function(r){var text=r.textContent.toLowerCase();var keep=words.every(function(w){return text.indexOf(w)>=0;});r.hidden=!keep;shown+=keep;});
      count.textContent=words.length?shown+' of '+rows.length+' rows':rows.length+' rows';
    }
    input.addEventListener('input',filter);filter();
    button.addEventListener('click',function(){
      var csv=tableCsv(table);copyText(csv);
      button.setAttribute('data-copied-rows',String(visibleRows(table).length));
      button.textContent='Copied';setTimeout(function(){button.textContent='Copy as CSV';},1500);
    });
  }
  each(document.querySelectorAll('main table'),function(table){makeSortable(table);alignNumbers(table);addTools(table);});
  // Legend entries i and series i of a chart are drawn in the same order.
  each(document.querySelectorAll('svg.chart'),function(svg){
    var series=svg.querySelectorAll(':scope > g.series'),legend=svg.querySelectorAll('g.legend');
    if(series.length!==legend.length)return;
    each(legend,function(g,i){
      g.setAttribute('tabindex','0');g.setAttribute('role','button');g.setAttribute('aria-pressed','true');
      function toggle(){var off=series[i].classList.toggle('series-hidden');g.classList.toggle('legend-off',off);g.setAttribute('aria-pressed',off?'false':'true');}
      g.addEventListener('click',toggle);
      g.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();toggle();}});
    });
  });
  document.body.setAttribute('data-ready','1');
})();
)js";

/// Counts script errors into <body data-js-errors>, so a headless browser's
/// dumped DOM shows whether the page's scripts ran cleanly.
inline constexpr std::string_view kErrorHookScript =
    "window.addEventListener('error',function(){var b=document.body;"
    "b.setAttribute('data-js-errors',String(Number(b.getAttribute('data-js-errors')||0)+1));});";

}  // namespace attnbench::reports
