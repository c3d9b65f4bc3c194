// The page script that draws the suite tables' rows from the embedded JSON. The
// values live once in the file (the JSON), not twice; the formatting below mirrors
// format_units.cpp so the table reads like the rest of the page. Every stored
// string goes through textContent, never innerHTML: database text cannot become markup.
#pragma once

#include <string_view>

namespace attnbench::reports {

/// Fills every <table data-case-rows="0-5,9"> with one row per listed case of
/// #attnbench-data. Runs before kSortScript, which then adds sorting, the filter box
/// and "Copy as CSV" to the drawn rows.
inline constexpr std::string_view kSuiteTableScript = R"js(
(function(){
  var blob=document.getElementById('attnbench-data');if(!blob)return;
  var data=JSON.parse(blob.textContent),cases=data.cases||[],units=data.metric_units||{};
  function nonFinite(v){return v!==v?'NaN':(v>0?'inf':'-inf');}
  function trim(s){return s.indexOf('.')<0?s:s.replace(/0+$/,'').replace(/\.$/,'');}
  function expo(s){var p=s.split('e'),x=Number(p[1]),a=Math.abs(x);return p[0]+'e'+(x<0?'-':'+')+(a<10?'0':'')+a;}
  // printf's %.<p>g: p significant digits, trailing zeros dropped.
  function g(v,p){if(v===0)return '0';var e=Number(v.toExponential(p-1).split('e')[1]);
    return e<-4||e>=p?expo(trim(v.toExponential(p-1).split('e')[0])+'e'+e):trim(v.toFixed(p-1-e));}
  function three(v){var a=Math.abs(v);return a>=100?v.toFixed(0):a>=10?v.toFixed(1):v.toFixed(2);}
  function seconds(s){if(!isFinite(s))return nonFinite(s);if(s===0)return '0 s';
    var sc=[[1,'s'],[1e-3,'ms'],[1e-6,'\u00b5s'],[1e-9,'ns']],a=Math.abs(s);
    for(var i=0;i<sc.length;i++)if(a>=sc[i][0]*0.9995)return three(s/sc[i][0])+' '+sc[i][1];
    return three(s/1e-9)+' ns';}
  function si(v,unit){if(!isFinite(v))return nonFinite(v);
    var sc=[[1e18,'E'],[1e15,'P'],[1e12,'T'],[1e9,'G'],[1e6,'M'],[1e3,'k'],[1,'']],a=Math.abs(v);
    for(var i=0;i<sc.length;i++)if(a>=sc[i][0]*0.9995)return three(v/sc[i][0])+' '+sc[i][1]+unit;
    return a===0?'0 '+unit:g(v,3)+' '+unit;}
  function percent(r){if(!isFinite(r))return nonFinite(r);var p=r*100;return Math.abs(p)>=10||p===0?p.toFixed(1)+'%':g(p,2)+'%';}
  function sci(v){if(!isFinite(v))return nonFinite(v);return v===0?'0':expo(v.toExponential(2));}
  function metricText(v,unit){if(unit==='s')return seconds(v);
    if(unit==='B'||unit==='B/s'||unit==='FLOP/s'||unit==='FLOP')return si(v,unit);
    if(!isFinite(v))return nonFinite(v);return !unit||unit==='ratio'?g(v,4):g(v,4)+' '+unit;}
  // The browser test checks these against tests/browser/format_cases.json, as a C++ test
  // checks format_units.h: the two copies print alike.
  window.attnbenchFormat={seconds:seconds,si:si,percent:percent,scientific:sci,metric:metricText};
  var known={ok:1,failed:1,unsupported:1,no_device:1,oom:1,error:1};
  function statusClass(s){return known.hasOwnProperty(s)?s:'other';}
  var dedicated={time_median:1,time_min:1,time_mad:1,flops_per_second:1,bytes_per_second:1,
    fraction_peak_flops:1,fraction_peak_bandwidth:1,rel_error:1,max_abs_error:1};
  function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;if(text!==undefined)e.textContent=text;return e;}
  // A <td>; `sort` is the raw value the sorting script orders by.
  function td(cls,sort,text,title){var c=el('td',cls,text);if(sort!==null)c.setAttribute('data-sort',sort);if(title)c.title=title;return c;}
  function dash(){return td('num none',null,'\u2014');}
  function has(m,k){return Object.prototype.hasOwnProperty.call(m,k);}
  // Canonical config and shape strings may wrap after each comma, not inside numbers.
  function breakable(cls,text){var c=td(cls,text);text.split(',').forEach(function(part,i,all){
    c.appendChild(document.createTextNode(part+(i+1<all.length?',':'')));if(i+1<all.length)c.appendChild(el('wbr'));});return c;}
  function numberCell(m,name,format){if(!has(m,name))return dash();var v=m[name];
    return v===null?td('num none','','n/a','stored as NULL'):td('num',String(v),format(v));}
  function timeCells(c,m,tr){
    var med=m.time_median!=null?m.time_median:c.median_seconds,mad=m.time_mad!=null?m.time_mad:c.mad_seconds;
    tr.appendChild(med!=null?td('num',String(med),seconds(med)):dash());
    if(med==null||mad==null){tr.appendChild(dash());return;}
    // Relative spread compares across sizes; the absolute MAD is in the tooltip.
    var rel=med>0?mad/med:0,title='MAD '+seconds(mad)+' over '+c.repetitions+' repetition(s)';
    if(m.time_min!=null)title+='; min '+seconds(m.time_min);
    tr.appendChild(td('num',String(rel),'\u00b1'+percent(rel),title));}
  function errorCell(m){var abs=m.max_abs_error,title=abs!=null?'max abs error '+sci(abs):'';
    if(!has(m,'rel_error')){if(abs==null)return dash();var c=td('num','');c.appendChild(el('span','none','abs '));
      c.appendChild(document.createTextNode(sci(abs)));return c;}
    if(m.rel_error===null)return td('num bad','','NaN','relative error stored as NULL (NaN)');
    return td('num',String(m.rel_error),sci(m.rel_error),title);}
  function otherCell(m){var c=td('other','');Object.keys(m).forEach(function(k){if(dedicated[k])return;
    var d=el('div');d.appendChild(el('i',null,k));d.appendChild(document.createTextNode(' '+(m[k]===null?'n/a':metricText(m[k],units[k]))));c.appendChild(d);});return c;}
  function statusCell(c){var cell=td('status',c.status);cell.appendChild(el('span','badge st-'+statusClass(c.status),c.status));
    // An ok case's message (a warning) stays under its badge; other rows show theirs
    // across the numeric columns.
    if(c.status==='ok'&&c.message)cell.appendChild(el('div','msg',c.message));return cell;}
  function row(c){
    var m=c.metrics||{},tr=el('tr','st-'+statusClass(c.status));
    tr.appendChild(breakable('mono cfg',c.config));tr.appendChild(breakable('mono shape',c.shape));
    tr.appendChild(td('',c.dtype,c.dtype));
    var be=td('',c.backend+' '+(c.device||''),c.backend);if(c.device)be.appendChild(el('div','dev',c.device));tr.appendChild(be);
    tr.appendChild(td('',c.phase,c.phase));tr.appendChild(statusCell(c));
    if(c.status!=='ok'&&!Object.keys(m).length&&!c.repetitions){
      var msg=td('msg','',c.message||'no message recorded');msg.colSpan=8;tr.appendChild(msg);return tr;}
    timeCells(c,m,tr);
    tr.appendChild(numberCell(m,'flops_per_second',function(v){return si(v,'FLOP/s');}));
    tr.appendChild(numberCell(m,'bytes_per_second',function(v){return si(v,'B/s');}));
    tr.appendChild(numberCell(m,'fraction_peak_flops',percent));
    tr.appendChild(numberCell(m,'fraction_peak_bandwidth',percent));
    tr.appendChild(errorCell(m));tr.appendChild(otherCell(m));return tr;}
  Array.prototype.forEach.call(document.querySelectorAll('table[data-case-rows]'),function(table){
    var body=table.tBodies[0],frag=document.createDocumentFragment();
    table.getAttribute('data-case-rows').split(',').forEach(function(run){if(!run)return;
      var ends=run.split('-').map(Number),last=ends.length>1?ends[1]:ends[0];
      for(var i=ends[0];i<=last;i++)if(cases[i])frag.appendChild(row(cases[i]));});
    body.appendChild(frag);});
})();
)js";

}  // namespace attnbench::reports
