//! `--format html`: one self-contained page (CSS, script and SVG inline; nothing is fetched)
//! with the terminal report's findings, TIME_WAIT held over time, and for each drawn connection
//! its time-sequence graph, ladder, RTT and throughput. Also the standalone SVG of `plot`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::audit::Audit;
use crate::capture::Input;
use crate::plot::svg::esc;
use crate::plot::{ConnGraph, MarkKind, PlotKind, ladder, rtt, throughput, time_wait, tsg};
use crate::report::graph_data::{conn_graph, most_anomalous, record_sketches, time_wait_data};
use crate::report::{findings, table};

/// Connections drawn when none was chosen with `--conn`.
pub const DRAWN_BY_DEFAULT: usize = 10;
/// Server endpoints and hosts in the TIME_WAIT graph.
const TIME_WAIT_SERIES: usize = 4;
/// Above this many rows the connections table starts folded.
const TABLE_OPEN_UP_TO: usize = 60;

const CSS: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1120px}h1{font-size:22px}h2{font-size:18px;margin-top:36px;border-top:2px solid #ddd;padding-top:14px}pre{font-size:12px;background:#f7f7f7;padding:10px;overflow-x:auto;line-height:1.3}figure{margin:14px 0}figcaption{font-size:12px;color:#666}svg.graph{display:block;background:#fff;border:1px solid #e4e4e4;max-width:100%;height:auto}svg.tsg{cursor:crosshair;touch-action:none}.facts{font-size:13px}.facts b{color:#b0006a}nav a{margin-right:10px}";

/// The page's only script: zoom and pan of the time-sequence graphs with live tick labels, and
/// a marker that tells it ran (`data-ready` on `<body>`).
const JS: &str = r#"(function(){
function nice(a,b,n){var s=(b-a)/n;if(!(s>0))return[];var p=Math.pow(10,Math.floor(Math.log10(s))),e=s/p;s=(e>=7.5?10:e>=3.5?5:e>=1.5?2:1)*p;var o=[];for(var v=Math.ceil(a/s)*s;v<=b+s*1e-9&&o.length<50;v+=s)o.push(v);return o;}
function lab(v,big){var a=Math.abs(v);if(big){if(a>=1e9)return(v/1e9).toFixed(2)+'G';if(a>=1e6)return(v/1e6).toFixed(2)+'M';if(a>=1e4)return(v/1e3).toFixed(0)+'k';return v.toFixed(0);}return a>=100?v.toFixed(0):a>=1?v.toFixed(2):v.toPrecision(3);}
var NS='http://www.w3.org/2000/svg';
function el(n,at,txt){var e=document.createElementNS(NS,n);for(var k in at)e.setAttribute(k,at[k]);if(txt!=null)e.textContent=txt;return e;}
function tsg(svg){var d=svg.dataset,L=+d.left,R=+d.right,T=+d.top,B=+d.bottom,X0=+d.x0,X1=+d.x1,Y0=+d.y0,Y1=+d.y1;
var lines=svg.querySelector('.lines'),za=svg.querySelector('.zaxes'),marks=[];
svg.querySelectorAll('.marks use').forEach(function(u){marks.push([u,+u.getAttribute('x'),+u.getAttribute('y')]);});
var z={kx:1,ky:1,tx:0,ty:0};
function axes(){while(za.firstChild)za.removeChild(za.firstChild);if(z.kx==1&&z.ky==1&&z.tx==0&&z.ty==0)return;
za.appendChild(el('rect',{x:L-62,y:T-6,width:62,height:B-T+12,fill:'#fff'}));za.appendChild(el('rect',{x:L-30,y:B+1,width:R-L+60,height:22,fill:'#fff'}));za.appendChild(el('rect',{x:L,y:T,width:R-L,height:B-T,fill:'#fff',stroke:'#000'}));
function dx(p){return X0+((p-z.tx)/z.kx-L)/(R-L)*(X1-X0);}function dy(p){return Y0+(B-(p-z.ty)/z.ky)/(B-T)*(Y1-Y0);}
function pxx(v){return z.kx*(L+(v-X0)/(X1-X0)*(R-L))+z.tx;}function pyy(v){return z.ky*(B-(v-Y0)/(Y1-Y0)*(B-T))+z.ty;}
nice(dx(L),dx(R),10).forEach(function(v){var x=pxx(v);za.appendChild(el('line',{x1:x,x2:x,y1:T,y2:B,stroke:'#e6e6e6'}));za.appendChild(el('text',{x:x,y:B+15,'text-anchor':'middle','font-size':12},lab(v,false)));});
nice(dy(B),dy(T),10).forEach(function(v){var y=pyy(v);za.appendChild(el('line',{x1:L,x2:R,y1:y,y2:y,stroke:'#e6e6e6'}));za.appendChild(el('text',{x:L-5,y:y+4,'text-anchor':'end','font-size':12},lab(v,true)));});}
function apply(){lines.setAttribute('transform','matrix('+z.kx+',0,0,'+z.ky+','+z.tx+','+z.ty+')');marks.forEach(function(m){m[0].setAttribute('x',z.kx*m[1]+z.tx);m[0].setAttribute('y',z.ky*m[2]+z.ty);});axes();}
function pt(ev){var r=svg.getBoundingClientRect();return[(ev.clientX-r.left)*(+svg.getAttribute('width'))/r.width,(ev.clientY-r.top)*(+svg.getAttribute('height'))/r.height];}
svg.addEventListener('wheel',function(ev){var p=pt(ev);if(p[0]<L||p[0]>R||p[1]<T||p[1]>B)return;ev.preventDefault();var f=Math.exp(-ev.deltaY*0.0015);
if(!ev.altKey){z.tx=p[0]-(p[0]-z.tx)*f;z.kx*=f;}if(!ev.shiftKey){z.ty=p[1]-(p[1]-z.ty)*f;z.ky*=f;}if(z.kx<1||z.ky<1){z={kx:1,ky:1,tx:0,ty:0};}apply();},{passive:false});
var drag=null;svg.addEventListener('pointerdown',function(ev){drag=pt(ev);});window.addEventListener('pointerup',function(){drag=null;});
svg.addEventListener('pointermove',function(ev){if(!drag)return;var p=pt(ev);z.tx+=p[0]-drag[0];z.ty+=p[1]-drag[1];drag=p;apply();});
svg.addEventListener('dblclick',function(){z={kx:1,ky:1,tx:0,ty:0};apply();});}
try{document.querySelectorAll('svg.tsg').forEach(tsg);document.body.setAttribute('data-ready','1');}catch(e){document.body.setAttribute('data-error',String(e));}
})();"#;

/// A capture read from standard input, kept in a temporary file so the drawing pass can read
/// it again; removed when dropped.
pub struct Spool {
    pub path: PathBuf,
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copy standard input to a new temporary file.
pub fn spool_stdin() -> io::Result<Spool> {
    let dir = std::env::temp_dir();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = dir.join(format!("tcpflow-audit-{}-{stamp}.pcap", std::process::id()));
    let mut f = File::options().write(true).create_new(true).open(&path)?;
    let spool = Spool { path };
    io::copy(&mut io::stdin().lock(), &mut f)?;
    f.flush()?;
    Ok(spool)
}

/// The HTML report: findings, TIME_WAIT over time and the pictures of the chosen connections
/// (`ids`, else the most anomalous; see [`graphs`]).
pub struct Html<'a> {
    pub inputs: &'a [Input],
    pub time_wait_s: f64,
    pub ids: &'a [u32],
}

impl crate::report::Report for Html<'_> {
    fn write(&self, out: &mut dyn Write, a: &Audit, selected: &[usize]) -> io::Result<()> {
        let graphs = graphs(self.inputs, self.time_wait_s, a, selected, self.ids)?;
        write_document(out, a, selected, &graphs, !self.ids.is_empty())
    }
}

/// The pictures of the connections to draw: those of `--conn` (`conn_ids`; the selected ones),
/// else the [`DRAWN_BY_DEFAULT`] with the most anomalies among `selected`. Each is drawn from
/// the sketch it kept while the capture was read; those that kept none (chosen only at the end
/// by `--top`, or opened while many others held one: see `track::SketchSelect`) are recorded
/// by a second pass over `inputs`, which cannot be standard input.
pub fn graphs(
    inputs: &[Input],
    time_wait_s: f64,
    a: &Audit,
    selected: &[usize],
    conn_ids: &[u32],
) -> io::Result<Vec<ConnGraph>> {
    let digits = a.capture.ts_digits;
    let ids: Vec<u32> = if conn_ids.is_empty() {
        most_anomalous(a.connections.each_of(selected), DRAWN_BY_DEFAULT)
    } else {
        selected.iter().map(|&i| a.connections.id(i)).collect()
    };
    // A connection with a sketch is kept working: read without thawing.
    let sketched = |id: u32| {
        selected
            .iter()
            .find(|&&i| a.connections.id(i) == id)
            .map(|&i| a.connections.read(i))
            .filter(|c| c.sketch.is_some())
    };
    let missing: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|&id| sketched(id).is_none())
        .collect();
    let recorded = if missing.is_empty() {
        Vec::new()
    } else if inputs.contains(&Input::Stdin) {
        return Err(io::Error::other(
            "standard input cannot be read a second time to draw the connections chosen at the end (keep it in a file)",
        ));
    } else {
        record_sketches(inputs, time_wait_s, a, &missing)
            .map_err(|e| io::Error::other(e.to_string()))?
    };
    Ok(ids
        .iter()
        .filter_map(|&id| match sketched(id) {
            Some(c) => conn_graph(&c, digits),
            None => recorded
                .iter()
                .find(|c| c.id == id)
                .and_then(|c| conn_graph(c, digits)),
        })
        .collect())
}

/// The width the page's text sections are laid out for.
const HTML_TEXT_WIDTH: usize = 200;

pub fn write_document(
    out: &mut dyn Write,
    a: &Audit,
    selected: &[usize],
    graphs: &[ConnGraph],
    chosen: bool,
) -> io::Result<()> {
    let name = esc(&a.capture.file);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>tcpflow-audit: {name}</title><style>{CSS}</style></head>\n<body>\n<h1>tcpflow-audit: {name}</h1>\n"
    )?;
    writeln!(out, "<section id=\"findings\"><h2>Findings</h2>")?;
    // The text report's order, answer first; a page scrolls, so its tables are laid out wide
    // and list every selected connection.
    let layout = table::Layout {
        width: HTML_TEXT_WIDTH,
        all: true,
    };
    writeln!(out, "<pre>{}</pre>", esc(&table::summary(a, layout.width)))?;
    let findings = a.connections.findings();
    writeln!(
        out,
        "<pre>{}</pre>",
        esc(&findings::render(&findings, layout.width))
    )?;
    let patterns = table::patterns(a, layout.width);
    if !patterns.is_empty() {
        writeln!(out, "<pre>{}</pre>", esc(&patterns))?;
    }
    if a.time_wait.by_endpoint.iter().any(|e| e.entered > 0) {
        writeln!(
            out,
            "<pre>{}</pre>",
            esc(&table::time_wait(a, 10, layout.width))
        )?;
    }
    if !selected.is_empty() {
        let mut t = Vec::new();
        table::write_connections_table(&mut t, a, selected, layout)?;
        writeln!(
            out,
            "<details{}><summary>{} connection(s)</summary><pre>{}</pre></details>",
            if selected.len() <= TABLE_OPEN_UP_TO {
                " open"
            } else {
                ""
            },
            selected.len(),
            esc(&String::from_utf8_lossy(&t))
        )?;
    }
    writeln!(out, "</section>")?;
    writeln!(
        out,
        "<section id=\"time-wait\"><h2>TIME_WAIT held over time</h2><figure>{}<figcaption>Sockets in TIME_WAIT per server endpoint (solid) and per host (dashed); the dot marks each peak.</figcaption></figure></section>",
        time_wait::render(&time_wait_data(a, TIME_WAIT_SERIES), "tw")
    )?;
    write!(
        out,
        "<section id=\"connections\"><h2>Connections drawn</h2><p class=\"facts\">{}</p><nav>",
        if chosen {
            "The connections chosen with --conn.".to_string()
        } else {
            format!(
                "The {} connection(s) with the most anomalies (choose others with --conn).",
                graphs.len()
            )
        }
    )?;
    for g in graphs {
        write!(out, "<a href=\"#conn-{0}\">#{0}</a>", g.id)?;
    }
    writeln!(out, "</nav></section>")?;
    for g in graphs {
        write_connection(out, g)?;
    }
    writeln!(out, "<script>{JS}</script>\n</body></html>")
}

fn write_connection(out: &mut dyn Write, g: &ConnGraph) -> io::Result<()> {
    let uid = format!("c{}", g.id);
    let mut counts = String::new();
    for k in MarkKind::ALL {
        let n = g.mark_count(k);
        if n > 0 {
            let _ = write!(counts, " · {} <b>{n}</b>", k.label());
        }
    }
    writeln!(
        out,
        "<section class=\"conn\" id=\"conn-{id}\" data-conn=\"{id}\"><h2>Connection {id}: {} → {}</h2><p class=\"facts\">start {} · {:.6} s · {} segments{counts}</p>",
        esc(&g.client),
        esc(&g.server),
        g.start,
        g.duration_s,
        g.segment_count,
        id = g.id
    )?;
    writeln!(
        out,
        "<figure>{}<figcaption>Wheel: zoom (shift: time only, alt: sequence only) · drag: pan · double-click: reset · hover a mark for its frame.</figcaption></figure>",
        tsg::render(g, &uid)
    )?;
    writeln!(out, "<figure>{}</figure>", ladder::render(g))?;
    writeln!(out, "<figure>{}</figure>", rtt::render(g, &uid))?;
    writeln!(out, "<figure>{}</figure>", throughput::render(g, &uid))?;
    writeln!(out, "</section>")
}

/// One graph as a standalone SVG document (`plot KIND`); `None` when connection `id` kept no
/// sketch (it does not exist in the capture).
pub fn plot_svg(kind: PlotKind, a: &Audit, id: Option<u32>) -> Option<String> {
    let body = match kind {
        PlotKind::TimeWait => time_wait::render(&time_wait_data(a, TIME_WAIT_SERIES), "tw"),
        _ => {
            let id = id?;
            let c = a.connections.find(id)?;
            let g = conn_graph(&c, a.capture.ts_digits)?;
            let uid = format!("c{id}");
            match kind {
                PlotKind::Tsg => tsg::render(&g, &uid),
                PlotKind::Ladder => ladder::render(&g),
                PlotKind::Rtt => rtt::render(&g, &uid),
                PlotKind::Throughput => throughput::render(&g, &uid),
                PlotKind::TimeWait => return None,
            }
        }
    };
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"
    ))
}
